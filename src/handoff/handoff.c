/* Handoff of a canonical conversation to another provider (handoff.h; rules and sources in
 * docs/handoff.md).
 *
 * The conversation is first flattened into items, each on one side: the assistant's (text,
 * reasoning, tool calls) or the user's (text, images, tool results). Maximal runs of one side are
 * turns. A tool result pairs with a call of the assistant turn just before its own turn, because
 * that is where every provider looks for it; whatever does not pair becomes text. Then the turns
 * are laid out the way the target's encoder expects them. Working on turns rather than messages
 * is what makes the function idempotent: its output has exactly one layout of its own turns. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/error.h"
#include "core/request_box.h"
#include "handoff/handoff_internal.h"

/* The user turn put first when an alternating target would otherwise start with the assistant:
 * Anthropic answers 400 'first message must use the "user" role' and Gemini refuses a function
 * call turn that does not follow a user turn. Non-blank, since blank text is refused too. */
#define FILLER_TEXT "(continued)"

static const char *const k_protocols[LX_HANDOFF_PROTOCOL_COUNT] = {"openai", "anthropic", "gemini", "ollama", "local"};

const char *lx_handoff_protocol_name(lx_handoff_protocol p) {
    return (unsigned)p < LX_HANDOFF_PROTOCOL_COUNT ? k_protocols[p] : NULL;
}

bool lx_handoff_protocol_from_name(const char *name, lx_handoff_protocol *out) {
    /* The Responses API takes a conversation by OpenAI's conventions (one item per tool result,
     * no alternation rule). */
    if (name && strcmp(name, "openai_responses") == 0) {
        *out = LX_HANDOFF_OPENAI;
        return true;
    }
    for (int i = 0; name && i < LX_HANDOFF_PROTOCOL_COUNT; i++)
        if (strcmp(name, k_protocols[i]) == 0) {
            *out = (lx_handoff_protocol)i;
            return true;
        }
    return false;
}

/* Anthropic and Gemini want one message per turn, user and assistant alternating; the chat
 * protocols (OpenAI, Ollama, the local engine's chat templates) take a `tool` message per result
 * and keep separate user messages apart. */
static bool alternating(lx_handoff_protocol p) { return p == LX_HANDOFF_ANTHROPIC || p == LX_HANDOFF_GEMINI; }

static bool blank(const char *s) {
    if (!s) return true;
    for (; *s; s++)
        if (!strchr(" \t\n\r\f\v", *s)) return false;
    return true;
}

enum { SIDE_ASSISTANT = 0, SIDE_USER = 1 };

typedef struct item {
    llmux_part part;    /* the input part (strings borrowed), or a text part made here (arena) */
    size_t src;         /* index of the input message it came from */
    unsigned char side; /* SIDE_* */
    bool paired;        /* call: answered by item `pair`; result: answers call `pair` */
    size_t pair;
    const char *new_id; /* paired call: its id on the target */
} item;

typedef struct state {
    const llmux_request *in;
    lx_handoff_protocol target;
    bool same_origin;
    bool reasoning_as_text;
    lx_arena *arena; /* the output's */
    llmux_error_info *err;
    item *items;
    size_t n_items;
    size_t *turn_start; /* first item of each turn, plus n_items at the end */
    size_t n_turns;
} state;

static llmux_status oom(state *s) { return lx_error(s->err, LLMUX_E_OUT_OF_MEMORY, "handoff: out of memory"); }

/* The concatenation of up to five pieces in the arena; NULL pieces count as "". */
static char *concat5(lx_arena *a, const char *p0, const char *p1, const char *p2, const char *p3, const char *p4) {
    const char *p[5] = {p0, p1, p2, p3, p4};
    size_t len[5], total = 0;
    for (int i = 0; i < 5; i++) total += len[i] = p[i] ? strlen(p[i]) : 0;
    char *out = lx_arena_alloc(a, total + 1);
    if (!out) return NULL;
    for (size_t i = 0, at = 0; i < 5; at += len[i], i++)
        if (len[i]) memcpy(out + at, p[i], len[i]);
    return out;
}

static char *concat(lx_arena *a, const char *p0, const char *p1, const char *p2, const char *p3) {
    return concat5(a, p0, p1, p2, p3, NULL);
}

/* ------------------------------------------------------------ system */

/* Every system text in order: the request's, then each SYSTEM message's text parts, joined by a
 * blank line (Anthropic and Gemini take one system prompt, OpenAI one leading system message;
 * other parts of a system message are accepted by no encoder and are dropped). NULL when there
 * is none; false when out of memory. */
static bool merge_system(state *s, const char **out) {
    lx_buf b;
    lx_buf_init(&b, (size_t)-1);
    bool ok = true;
    if (!blank(s->in->system)) ok = lx_buf_append_str(&b, s->in->system);
    for (size_t i = 0; ok && i < s->in->n_messages; i++) {
        const llmux_message *m = &s->in->messages[i];
        if (m->role != LLMUX_ROLE_SYSTEM) continue;
        for (size_t j = 0; ok && m->parts && j < m->n_parts; j++) {
            const llmux_part *p = &m->parts[j];
            if (p->type != LLMUX_PART_TEXT || blank(p->text)) continue;
            if (b.len) ok = lx_buf_append_str(&b, "\n\n");
            ok = ok && lx_buf_append_str(&b, p->text);
        }
    }
    *out = NULL;
    if (ok && b.len) ok = (*out = lx_arena_strndup(s->arena, b.data, b.len)) != NULL;
    lx_buf_free(&b);
    return ok;
}

/* ------------------------------------------------------------- items */

static bool push_text(state *s, size_t src, unsigned char side, const char *text) {
    if (!text) return false;
    item *it = &s->items[s->n_items++];
    memset(it, 0, sizeof *it);
    it->part.type = LLMUX_PART_TEXT;
    it->part.text = text;
    it->src = src;
    it->side = side;
    return true;
}

static void push_part(state *s, size_t src, unsigned char side, const llmux_part *p) {
    item *it = &s->items[s->n_items++];
    memset(it, 0, sizeof *it);
    it->part = *p;
    it->src = src;
    it->side = side;
}

/* A call or result that cannot travel as one: text in the same place, so nothing the model or
 * the tools said is lost. */
static const char *call_as_text(state *s, const llmux_part *p) {
    return concat5(s->arena, "[tool call: ", p->name && *p->name ? p->name : "?", " ",
                   p->arguments && *p->arguments ? p->arguments : "{}", "]");
}

static const char *result_as_text(state *s, const llmux_part *p) {
    const char *head = p->is_error ? "[tool error" : "[tool result";
    if (p->name && *p->name) return concat(s->arena, head, ": ", p->name, "]\n");
    return concat(s->arena, head, "]\n", NULL, NULL);
}

static bool result_text(state *s, item *it) {
    const char *head = result_as_text(s, &it->part);
    const char *t = head ? concat(s->arena, head, it->part.text, NULL, NULL) : NULL;
    if (!t) return false;
    memset(&it->part, 0, sizeof it->part);
    it->part.type = LLMUX_PART_TEXT;
    it->part.text = t;
    return true;
}

/* Reasoning: kept as it is when the target is the origin (its signatures verify there), else
 * dropped, or turned into text when asked and there is readable text. Signatures are opaque and
 * provider-bound: Anthropic rejects thinking it cannot verify, Gemini thought signatures only
 * mean something to Gemini. */
static llmux_status add_reasoning(state *s, size_t src, const llmux_part *p) {
    bool has_sig = p->signature && *p->signature;
    if (s->same_origin) {
        if (!blank(p->text) || has_sig || p->redacted) push_part(s, src, SIDE_ASSISTANT, p);
        return LLMUX_OK;
    }
    if (!s->reasoning_as_text || p->redacted || blank(p->text)) return LLMUX_OK;
    return push_text(s, src, SIDE_ASSISTANT, concat(s->arena, "[reasoning]\n", p->text, NULL, NULL)) ? LLMUX_OK
                                                                                                     : oom(s);
}

/* Chat Completions carries arguments as a string and the local engine prints them, so anything
 * goes there; Anthropic (tool_use.input), Gemini (functionCall.args) and Ollama take a JSON
 * object, and OpenAI models do produce broken argument text (a call cut by max_tokens). NULL
 * and "" mean no arguments ({}). */
static bool arguments_ok(const state *s, const char *args) {
    if (s->target == LX_HANDOFF_OPENAI || s->target == LX_HANDOFF_LOCAL || !args || !*args) return true;
    json_t *v = json_loads(args, 0, NULL);
    bool ok = json_is_object(v);
    json_decref(v);
    return ok;
}

static llmux_status add_message(state *s, size_t mi) {
    const llmux_message *m = &s->in->messages[mi];
    bool assistant = m->role == LLMUX_ROLE_ASSISTANT;
    for (size_t j = 0; m->parts && j < m->n_parts; j++) {
        const llmux_part *p = &m->parts[j];
        switch (p->type) {
        case LLMUX_PART_TEXT:
            if (!blank(p->text)) push_part(s, mi, assistant ? SIDE_ASSISTANT : SIDE_USER, p);
            break;
        case LLMUX_PART_IMAGE:
        case LLMUX_PART_FILE:
            /* Images and documents are user input; no provider takes one from the assistant. */
            if (!assistant) push_part(s, mi, SIDE_USER, p);
            break;
        case LLMUX_PART_TOOL_CALL:
            /* Calls belong to the assistant and need a name everywhere (OpenAI function.name,
             * Anthropic tool_use.name, Gemini functionCall.name). */
            if (assistant && p->name && *p->name && arguments_ok(s, p->arguments))
                push_part(s, mi, SIDE_ASSISTANT, p);
            else if (!push_text(s, mi, assistant ? SIDE_ASSISTANT : SIDE_USER, call_as_text(s, p)))
                return oom(s);
            break;
        case LLMUX_PART_TOOL_RESULT:
            /* A result is the user's side of the exchange wherever it was stored. */
            push_part(s, mi, SIDE_USER, p);
            break;
        case LLMUX_PART_REASONING:
            if (assistant) {
                llmux_status st = add_reasoning(s, mi, p);
                if (st != LLMUX_OK) return st;
            }
            break;
        case LLMUX_PART_NATIVE:
            /* A provider's own block (an Anthropic server tool's call or result) means something
             * only to that provider's API. */
            if (s->target == LX_HANDOFF_ANTHROPIC && p->name && strcmp(p->name, "anthropic") == 0)
                push_part(s, mi, assistant ? SIDE_ASSISTANT : SIDE_USER, p);
            break;
        default:
            return lx_error(s->err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu].type: unknown part type %d",
                            mi, j, (int)p->type);
        }
    }
    return LLMUX_OK;
}

static llmux_status build_items(state *s) {
    size_t n = 0;
    for (size_t i = 0; i < s->in->n_messages; i++) {
        const llmux_message *m = &s->in->messages[i];
        if ((unsigned)m->role > LLMUX_ROLE_TOOL)
            return lx_error(s->err, LLMUX_E_INVALID_REQUEST, "messages[%zu].role: unknown role %d", i, (int)m->role);
        if (m->n_parts && !m->parts)
            return lx_error(s->err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content: NULL with %zu parts", i,
                            m->n_parts);
        n += m->n_parts;
    }
    s->items = malloc((n ? n : 1) * sizeof *s->items);
    s->turn_start = malloc((n + 1) * sizeof *s->turn_start);
    if (!s->items || !s->turn_start) return oom(s);
    for (size_t i = 0; i < s->in->n_messages; i++) {
        if (s->in->messages[i].role == LLMUX_ROLE_SYSTEM) continue;
        llmux_status st = add_message(s, i);
        if (st != LLMUX_OK) return st;
    }
    for (size_t i = 0; i < s->n_items; i++)
        if (i == 0 || s->items[i].side != s->items[i - 1].side) s->turn_start[s->n_turns++] = i;
    s->turn_start[s->n_turns] = s->n_items;
    return LLMUX_OK;
}

/* ----------------------------------------------------------- pairing */

static bool same(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

/* Pairs the results of user turn t with the calls of assistant turn t-1: by id, or for a result
 * without id by tool name (Gemini pairs responses with calls by name and order). The first
 * unanswered call wins, so repeated ids and parallel calls of one tool pair in order. */
static void pair_turn(state *s, size_t t) {
    size_t c0 = s->turn_start[t - 1], c1 = s->turn_start[t];
    for (size_t r = c1; r < s->turn_start[t + 1]; r++) {
        item *res = &s->items[r];
        if (res->part.type != LLMUX_PART_TOOL_RESULT) continue;
        bool by_id = res->part.id && *res->part.id;
        for (size_t c = c0; c < c1; c++) {
            item *call = &s->items[c];
            if (call->part.type != LLMUX_PART_TOOL_CALL || call->paired) continue;
            if (by_id ? same(call->part.id, res->part.id) : same(call->part.name, res->part.name)) {
                call->paired = res->paired = true;
                call->pair = r;
                res->pair = c;
                break;
            }
        }
    }
}

/* Pairs every turn, turns what stays unpaired into text (OpenAI, Anthropic and Gemini all refuse
 * a call without its result right after, and a result without its call), and gives every paired
 * call its target id. */
static llmux_status pair_all(state *s) {
    for (size_t t = 1; t < s->n_turns; t++)
        if (s->items[s->turn_start[t]].side == SIDE_USER) pair_turn(s, t);
    size_t n_calls = 0;
    for (size_t i = 0; i < s->n_items; i++) {
        item *it = &s->items[i];
        if (it->paired) {
            n_calls += it->part.type == LLMUX_PART_TOOL_CALL;
            continue;
        }
        if (it->part.type == LLMUX_PART_TOOL_CALL) {
            const char *t = call_as_text(s, &it->part);
            if (!t) return oom(s);
            memset(&it->part, 0, sizeof it->part);
            it->part.type = LLMUX_PART_TEXT;
            it->part.text = t;
        } else if (it->part.type == LLMUX_PART_TOOL_RESULT && !result_text(s, it)) {
            return oom(s);
        }
    }
    lx_idset ids;
    if (!lx_idset_init(&ids, n_calls)) return oom(s);
    size_t ordinal = 0;
    for (size_t i = 0; i < s->n_items; i++) {
        item *it = &s->items[i];
        if (it->part.type != LLMUX_PART_TOOL_CALL) continue;
        it->new_id = lx_handoff_assign_id(&ids, s->arena, s->target, it->part.id, ++ordinal);
        if (!it->new_id) {
            lx_idset_free(&ids);
            return oom(s);
        }
    }
    lx_idset_free(&ids);
    return LLMUX_OK;
}

/* ------------------------------------------------------------ layout */

typedef struct layout {
    llmux_message *msgs;
    size_t n_msgs;
    llmux_part *parts; /* one array; each message holds a slice */
    size_t n_parts;
} layout;

/* Ollama takes images as bare base64 only (its adapter refuses URLs), while the other
 * protocols accept a base64 data URL as well: an image that came as "data:<mime>;base64,<data>"
 * is split for Ollama. Returns where the payload starts, NULL when the URL is not one. */
static const char *data_url_payload(const char *url) {
    const char *b64 = strncmp(url, "data:", 5) == 0 ? strstr(url, ";base64,") : NULL;
    return b64 && b64 > url + 5 ? b64 + 8 : NULL;
}

/* Copies the fields of the part's type only (the header says the others are not read), so stray
 * fields never leak into the output. */
static bool copy_part(state *s, const item *it, llmux_part *o) {
    const llmux_part *p = &it->part;
    lx_arena *a = s->arena;
    memset(o, 0, sizeof *o);
    o->type = p->type;
    if (p->type != LLMUX_PART_REASONING) o->cache = p->cache;
#define DUP(f) (!p->f || (o->f = lx_arena_strdup(a, p->f)) != NULL)
    switch (p->type) {
    case LLMUX_PART_TEXT: return DUP(text);
    case LLMUX_PART_IMAGE:
        if (s->target == LX_HANDOFF_OLLAMA && !p->data && p->image_url && data_url_payload(p->image_url)) {
            const char *payload = data_url_payload(p->image_url);
            o->mime_type = lx_arena_strndup(a, p->image_url + 5, (size_t)(payload - 8 - (p->image_url + 5)));
            o->data = lx_arena_strdup(a, payload);
            return o->mime_type && o->data;
        }
        return DUP(image_url) && DUP(data) && DUP(mime_type);
    case LLMUX_PART_TOOL_CALL: o->id = it->new_id; return DUP(name) && DUP(arguments);
    case LLMUX_PART_TOOL_RESULT: {
        /* The call's id and name: Gemini and Ollama answer by name, and it must be the call's. */
        const item *call = &s->items[it->pair];
        o->id = call->new_id;
        o->is_error = p->is_error;
        return (o->name = lx_arena_strdup(a, call->part.name)) != NULL && DUP(text);
    }
    case LLMUX_PART_REASONING: o->redacted = p->redacted; return DUP(text) && DUP(signature);
    case LLMUX_PART_FILE: return DUP(image_url) && DUP(data) && DUP(mime_type) && DUP(name);
    case LLMUX_PART_NATIVE: return DUP(name) && DUP(text);
    }
#undef DUP
    return false;
}

static void begin(layout *l, llmux_role role, const char *name) {
    llmux_message *m = &l->msgs[l->n_msgs];
    memset(m, 0, sizeof *m);
    m->role = role;
    m->name = name;
    m->parts = l->parts + l->n_parts;
}

static bool emit(state *s, layout *l, const item *it) {
    if (!copy_part(s, it, &l->parts[l->n_parts])) return false;
    l->n_parts++;
    l->msgs[l->n_msgs].n_parts++;
    return true;
}

static void end(layout *l) {
    if (l->msgs[l->n_msgs].n_parts) l->n_msgs++;
}

/* The name of the first input message of items [a, b) that has one and the wanted role. */
static const char *turn_name(state *s, size_t a, size_t b, bool user_only) {
    for (size_t i = a; i < b; i++) {
        const llmux_message *m = &s->in->messages[s->items[i].src];
        if (m->name && (!user_only || m->role == LLMUX_ROLE_USER)) return m->name;
    }
    return NULL;
}

static bool copy_name(state *s, const char **name) {
    return !*name || (*name = lx_arena_strdup(s->arena, *name)) != NULL;
}

static bool lay_assistant(state *s, layout *l, size_t a, size_t b) {
    const char *name = turn_name(s, a, b, false);
    if (!copy_name(s, &name)) return false;
    begin(l, LLMUX_ROLE_ASSISTANT, name);
    for (size_t i = a; i < b; i++)
        if (!emit(s, l, &s->items[i])) return false;
    end(l);
    return true;
}

/* A user turn: the results first, in the order of the calls they answer (Gemini pairs responses
 * with calls by order), then the user's own content.
 *  - Anthropic: one user message, the tool_result blocks at its start (the API looks for them
 *    there).
 *  - Gemini: the responses alone in one `tool` message (the encoder sends it as a user content),
 *    then the content as a user message: Gemini refuses a content that mixes functionResponse
 *    parts with text or media ("Requests ending with a model turn are not supported"), while the
 *    same text as its own user content right after is accepted.
 *  - Chat protocols: one `tool` message per result, then each user message as it was (and with
 *    its participant name). */
static bool lay_user(state *s, layout *l, size_t t) {
    size_t a = s->turn_start[t], b = s->turn_start[t + 1];
    size_t c0 = t > 0 ? s->turn_start[t - 1] : a, c1 = a;
    bool anthropic = s->target == LX_HANDOFF_ANTHROPIC, gemini = s->target == LX_HANDOFF_GEMINI;
    const char *name = NULL;
    if (anthropic || gemini) {
        name = turn_name(s, a, b, true);
        if (!copy_name(s, &name)) return false;
    }
    begin(l, anthropic ? LLMUX_ROLE_USER : LLMUX_ROLE_TOOL, anthropic ? name : NULL);
    for (size_t c = c0; c < c1; c++) {
        const item *call = &s->items[c];
        if (call->part.type != LLMUX_PART_TOOL_CALL) continue;
        if (!emit(s, l, &s->items[call->pair])) return false;
        if (!anthropic && !gemini) {
            end(l);
            begin(l, LLMUX_ROLE_TOOL, NULL);
        }
    }
    if (!anthropic) {
        end(l);
        if (gemini) begin(l, LLMUX_ROLE_USER, name);
    }
    size_t src = (size_t)-1;
    for (size_t i = a; i < b; i++) {
        const item *it = &s->items[i];
        if (it->part.type == LLMUX_PART_TOOL_RESULT) continue;
        if (!anthropic && !gemini && it->src != src) {
            if (src != (size_t)-1) end(l);
            src = it->src;
            const llmux_message *m = &s->in->messages[src];
            const char *own = m->role == LLMUX_ROLE_USER ? m->name : NULL;
            if (!copy_name(s, &own)) return false;
            begin(l, LLMUX_ROLE_USER, own);
        }
        if (!emit(s, l, it)) return false;
    }
    if (anthropic || gemini || src != (size_t)-1) end(l);
    return true;
}

/* Anthropic refuses a final assistant message (a prefill) whose text ends in whitespace. */
static bool trim_prefill(state *s, layout *l) {
    if (s->target != LX_HANDOFF_ANTHROPIC || !l->n_msgs) return true;
    llmux_message *m = &l->msgs[l->n_msgs - 1];
    llmux_part *p = &l->parts[l->n_parts - 1];
    if (m->role != LLMUX_ROLE_ASSISTANT || p->type != LLMUX_PART_TEXT) return true;
    size_t n = strlen(p->text);
    while (n && strchr(" \t\n\r\f\v", p->text[n - 1])) n--;
    /* Blank text never gets here, so something is left. */
    return (p->text = lx_arena_strndup(s->arena, p->text, n)) != NULL;
}

static llmux_status lay_out(state *s, llmux_request *out, const char *system) {
    layout l = {0};
    /* Slot 0 is kept for the system message or the filler turn; every item is one part, and a
     * turn makes at most one message per item. */
    l.msgs = lx_arena_alloc(s->arena, (s->n_items + 2) * sizeof *l.msgs);
    l.parts = lx_arena_alloc(s->arena, (s->n_items + 1) * sizeof *l.parts);
    if (!l.msgs || !l.parts) return oom(s);
    l.parts++; /* parts[-1] is slot 0's one part */
    llmux_part *first_part = l.parts - 1;
    llmux_message *msgs = l.msgs++;
    for (size_t t = 0; t < s->n_turns; t++) {
        size_t a = s->turn_start[t], b = s->turn_start[t + 1];
        bool ok = s->items[a].side == SIDE_ASSISTANT ? lay_assistant(s, &l, a, b) : lay_user(s, &l, t);
        if (!ok) return oom(s);
    }
    if (!trim_prefill(s, &l)) return oom(s);

    const char *slot_text = NULL;
    llmux_role slot_role = LLMUX_ROLE_SYSTEM;
    if (alternating(s->target)) {
        out->system = system;
        if (l.n_msgs && l.msgs[0].role == LLMUX_ROLE_ASSISTANT) {
            slot_text = FILLER_TEXT;
            slot_role = LLMUX_ROLE_USER;
        }
    } else {
        slot_text = system;
    }
    if (slot_text) {
        memset(first_part, 0, sizeof *first_part);
        first_part->type = LLMUX_PART_TEXT;
        first_part->text = slot_text;
        msgs[0] = (llmux_message){.role = slot_role, .parts = first_part, .n_parts = 1};
        out->messages = msgs;
        out->n_messages = l.n_msgs + 1;
    } else {
        out->messages = l.msgs;
        out->n_messages = l.n_msgs;
    }
    return LLMUX_OK;
}

/* ------------------------------------------------------ other fields */

static bool dup_str(lx_arena *a, const char **s) { return !*s || (*s = lx_arena_strdup(a, *s)) != NULL; }

/* Everything but the conversation, copied as it is. */
static bool copy_rest(lx_arena *a, const llmux_request *in, llmux_request *out) {
    out->model = in->model;
    out->tool_choice = in->tool_choice;
    out->tool_choice_name = in->tool_choice_name;
    out->response_format = in->response_format;
    out->schema_name = in->schema_name;
    out->schema = in->schema;
    out->schema_strict = in->schema_strict;
    out->sampling = in->sampling;
    out->stream = in->stream;
    out->priority = in->priority;
    out->deadline_ms = in->deadline_ms;
    out->reasoning_effort = in->reasoning_effort;
    out->reasoning_budget = in->reasoning_budget;
    out->single_tool_call = in->single_tool_call;
    out->provider_options = in->provider_options;
    if (!dup_str(a, &out->model) || !dup_str(a, &out->tool_choice_name) || !dup_str(a, &out->schema_name) ||
        !dup_str(a, &out->schema) || !dup_str(a, &out->provider_options))
        return false;
    if (in->tools && in->n_tools) {
        llmux_tool *t = lx_arena_alloc(a, in->n_tools * sizeof *t);
        if (!t) return false;
        for (size_t i = 0; i < in->n_tools; i++) {
            t[i] = in->tools[i];
            if (!dup_str(a, &t[i].name) || !dup_str(a, &t[i].description) || !dup_str(a, &t[i].parameters))
                return false;
        }
        out->tools = t;
        out->n_tools = in->n_tools;
    }
    out->sampling.stop = NULL;
    out->sampling.n_stop = 0;
    if (in->sampling.stop && in->sampling.n_stop) {
        const char **stop = lx_arena_alloc(a, in->sampling.n_stop * sizeof *stop);
        if (!stop) return false;
        for (size_t i = 0; i < in->sampling.n_stop; i++)
            if (!(stop[i] = in->sampling.stop[i]) || !dup_str(a, &stop[i])) return false;
        out->sampling.stop = stop;
        out->sampling.n_stop = in->sampling.n_stop;
    }
    if (in->metadata && in->n_metadata) {
        llmux_kv *kv = lx_arena_alloc(a, in->n_metadata * sizeof *kv);
        if (!kv) return false;
        for (size_t i = 0; i < in->n_metadata; i++) {
            kv[i] = in->metadata[i];
            if (!dup_str(a, &kv[i].key) || !dup_str(a, &kv[i].value)) return false;
        }
        out->metadata = kv;
        out->n_metadata = in->n_metadata;
    }
    return true;
}

/* ------------------------------------------------------------- entry */

llmux_status lx_handoff(const llmux_request *in, const lx_handoff_opts *opts, llmux_request **out,
                        llmux_error_info *err) {
    if (out) *out = NULL;
    if (!in || !opts || !out)
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "handoff: request, options and out are required");
    state s = {.in = in, .err = err, .reasoning_as_text = opts->reasoning_as_text};
    if (!lx_handoff_protocol_from_name(opts->target_protocol, &s.target))
        return lx_error(
            err, LLMUX_E_INVALID_REQUEST,
            "handoff: unknown target protocol \"%.64s\" (expected openai, anthropic, gemini, ollama or local)",
            opts->target_protocol ? opts->target_protocol : "(null)");
    if (in->n_messages && !in->messages) return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages: NULL");
    const char *target = opts->target_provider ? opts->target_provider : opts->target_protocol;
    s.same_origin = same(opts->origin, target);

    llmux_request *r = lx_request_box_new(&s.arena);
    if (!r) return oom(&s);
    const char *system = NULL;
    llmux_status st = merge_system(&s, &system) ? LLMUX_OK : oom(&s);
    if (st == LLMUX_OK) st = build_items(&s);
    if (st == LLMUX_OK) st = pair_all(&s);
    if (st == LLMUX_OK) st = lay_out(&s, r, system);
    if (st == LLMUX_OK && !copy_rest(s.arena, in, r)) st = oom(&s);
    free(s.items);
    free(s.turn_start);
    if (st != LLMUX_OK) {
        llmux_request_free(r);
        return st;
    }
    lx_error_clear(err);
    *out = r;
    return LLMUX_OK;
}

llmux_status lx_handoff_simple(const llmux_request *in, const char *origin, const char *target_protocol,
                               llmux_request **out, llmux_error_info *err) {
    lx_handoff_opts o = {.origin = origin, .target_protocol = target_protocol};
    return lx_handoff(in, &o, out, err);
}
