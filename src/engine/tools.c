/* Tools on a local model (tools.h): the request in the chat template's terms, the prompt, the
 * grammar, and the parsed output as canonical events. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "tools.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chat_tools.h"
#include "core/clock.h"
#include "core/error.h"
#include "engine_internal.h"

#define HELD_MAX (16u * 1024u * 1024u) /* generated text held; far above any context */
/* Calls one answer may report (llama-server has no limit; parallel tool use rarely passes a few
 * dozen); the array of streamed calls grows to it. More: the answer is returned as text with a
 * warning. */
#define LX_TOOLS_STREAM_CALLS 256

/* A tool call streamed so far: its id and name (sent with its start) and the arguments sent. */
typedef struct sent_call {
    char id[48];
    char *name;
    lx_buf args;
} sent_call;

struct lx_tools {
    const lx_model *m;
    lx_chat_tools *ct;
    lx_ct_message *msgs;        /* the conversation as the template sees it */
    size_t n_msgs;
    char **contents;            /* msgs[i].content, owned */
    lx_ct_call *calls;          /* every assistant tool call, msgs point into it */
    size_t n_calls;
    const char **stops;         /* the request's stop sequences, then the template's */
    size_t n_stops;
    int32_t *preserved;         /* special tokens rendered with their text */
    size_t n_preserved;
    lx_buf held;                /* the output so far */
    bool overflow;              /* some output could not be held */
    /* What has been streamed (lx_tools_stream): every later parse must extend it. */
    lx_buf sent_reasoning, sent_content;
    sent_call *sent;            /* grown as calls start, up to LX_TOOLS_STREAM_CALLS */
    size_t n_sent, sent_cap;
    bool diverged;              /* a parse did not extend what was sent: no more streaming */
};

bool lx_tools_wanted(const llmux_request *req) { return req->n_tools > 0 && req->tool_choice != LLMUX_TOOL_CHOICE_NONE; }

/* ------------------------------------------------------------ the request */

static bool raw_prompt_requested(const llmux_request *req) {
    if (!req->provider_options) return false;
    json_t *o = json_loads(req->provider_options, 0, NULL);
    bool raw = json_is_true(json_object_get(json_object_get(o, "local"), "raw_prompt"));
    json_decref(o);
    return raw;
}

static const char *role_name(llmux_role r) {
    switch (r) {
    case LLMUX_ROLE_SYSTEM: return "system";
    case LLMUX_ROLE_USER: return "user";
    case LLMUX_ROLE_ASSISTANT: return "assistant";
    case LLMUX_ROLE_TOOL: return "tool";
    }
    return "user";
}

/* Appends one template message with a copy of text (len bytes). */
static bool push_msg(lx_tools *t, const char *role, const char *text, size_t len) {
    char *c = malloc(len + 1);
    if (!c) return false;
    memcpy(c, text, len);
    c[len] = '\0';
    t->contents[t->n_msgs] = c;
    t->msgs[t->n_msgs] = (lx_ct_message){.role = role, .content = c};
    t->n_msgs++;
    return true;
}

/* The conversation in the template's terms: the system prompt first; each message's text parts
 * joined; an assistant's tool calls on its message; each tool result a "tool" message of its own
 * (Anthropic-style results inside a user message included), in order. */
static llmux_status convert_messages(lx_tools *t, const llmux_request *req, llmux_error_info *err) {
    size_t cap = 1, n_calls = 0;
    for (size_t i = 0; i < req->n_messages; i++) {
        cap += 1 + req->messages[i].n_parts;
        for (size_t j = 0; j < req->messages[i].n_parts; j++) n_calls += req->messages[i].parts[j].type == LLMUX_PART_TOOL_CALL;
    }
    t->msgs = calloc(cap, sizeof *t->msgs);
    t->contents = calloc(cap, sizeof *t->contents);
    t->calls = calloc(n_calls ? n_calls : 1, sizeof *t->calls);
    lx_buf text;
    lx_buf_init(&text, LX_PROMPT_MAX_BYTES);
    if (!t->msgs || !t->contents || !t->calls) goto oom;
    if (req->system && !push_msg(t, "system", req->system, strlen(req->system))) goto oom;
    for (size_t i = 0; i < req->n_messages; i++) {
        const llmux_message *msg = &req->messages[i];
        lx_buf_reset(&text);
        size_t first_call = t->n_calls;
        bool has_text = false;
        for (size_t j = 0; j < msg->n_parts; j++) {
            const llmux_part *p = &msg->parts[j];
            switch (p->type) {
            case LLMUX_PART_TEXT:
                /* A system prompt's blocks read as one text, a line apart (as engine.c joins them). */
                if (msg->role == LLMUX_ROLE_SYSTEM && has_text && !lx_buf_append_str(&text, "\n")) goto too_big;
                if (p->text && !lx_buf_append_str(&text, p->text)) goto too_big;
                has_text = true;
                break;
            case LLMUX_PART_TOOL_CALL:
                t->calls[t->n_calls++] = (lx_ct_call){p->id ? p->id : "", p->name ? p->name : "",
                                                      p->arguments ? p->arguments : "{}"};
                break;
            case LLMUX_PART_TOOL_RESULT: {
                const char *r = p->text ? p->text : "";
                if (!push_msg(t, "tool", r, strlen(r))) goto oom;
                t->msgs[t->n_msgs - 1].tool_call_id = p->id;
                t->msgs[t->n_msgs - 1].tool_name = p->name;
                break;
            }
            case LLMUX_PART_REASONING:
            case LLMUX_PART_NATIVE: /* a provider's own block: nothing a local model can read */
                break; /* earlier reasoning is not fed back to a local model */
            case LLMUX_PART_IMAGE:
            case LLMUX_PART_FILE:
                lx_buf_free(&text);
                return lx_error(err, LLMUX_E_INVALID_REQUEST, "messages[%zu].content[%zu]: local models do not accept %s",
                                i, j, p->type == LLMUX_PART_FILE ? "files (documents)" : "images");
            }
        }
        bool has_calls = t->n_calls > first_call;
        if (!has_text && !has_calls && msg->role == LLMUX_ROLE_TOOL) continue; /* results only */
        if (!has_text && !has_calls && msg->role == LLMUX_ROLE_USER && t->n_msgs && !strcmp(t->msgs[t->n_msgs - 1].role, "tool"))
            continue; /* a user turn that only carried tool results */
        if (!push_msg(t, role_name(msg->role), text.data ? text.data : "", text.len)) goto oom;
        t->msgs[t->n_msgs - 1].calls = has_calls ? &t->calls[first_call] : NULL;
        t->msgs[t->n_msgs - 1].n_calls = t->n_calls - first_call;
    }
    lx_buf_free(&text);
    return LLMUX_OK;
too_big:
    lx_buf_free(&text);
    return lx_error(err, LLMUX_E_INVALID_REQUEST, "prompt larger than %u bytes", LX_PROMPT_MAX_BYTES);
oom:
    lx_buf_free(&text);
    return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory preparing the tools");
}

/* The template's stop strings after the request's. */
static bool collect_stops(lx_tools *t, const llmux_request *req) {
    size_t extra = lx_chat_tools_n_stops(t->ct);
    t->stops = calloc(req->sampling.n_stop + extra + 1, sizeof *t->stops);
    if (!t->stops) return false;
    for (size_t i = 0; i < req->sampling.n_stop; i++) t->stops[t->n_stops++] = req->sampling.stop[i];
    for (size_t i = 0; i < extra; i++) {
        const char *s = lx_chat_tools_stop(t->ct, i);
        if (*s) t->stops[t->n_stops++] = s;
    }
    return true;
}

/* Special tokens whose text the parser needs: those the template names that are one token. */
static bool collect_preserved(lx_tools *t) {
    size_t n = lx_chat_tools_n_preserved(t->ct);
    t->preserved = calloc(n ? n : 1, sizeof *t->preserved);
    if (!t->preserved) return false;
    for (size_t i = 0; i < n; i++) {
        const char *s = lx_chat_tools_preserved(t->ct, i);
        int32_t ids[2];
        int32_t k = llama_tokenize(t->m->vocab, s, (int32_t)strlen(s), ids, 2, false, true);
        if (k == 1 && llama_vocab_get_attr(t->m->vocab, ids[0]) & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_USER_DEFINED))
            t->preserved[t->n_preserved++] = ids[0];
    }
    return true;
}

llmux_status lx_tools_new(const lx_model *m, const llmux_request *req, lx_tools **out, llmux_error_info *err) {
    *out = NULL;
    if (!m->model) return lx_error(err, LLMUX_E_INTERNAL, "model %s is not loaded", m->name);
    if (req->response_format != LLMUX_FORMAT_TEXT)
        return lx_error(err, LLMUX_E_INVALID_REQUEST,
                        "response_format: local models take tools or a JSON response format, not both");
    if (raw_prompt_requested(req))
        return lx_error(err, LLMUX_E_INVALID_REQUEST, "tools: a raw (completion) prompt cannot offer tools");
    lx_tools *t = calloc(1, sizeof *t);
    if (!t) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory preparing the tools");
    t->m = m;
    lx_buf_init(&t->held, HELD_MAX);
    lx_buf_init(&t->sent_reasoning, HELD_MAX);
    lx_buf_init(&t->sent_content, HELD_MAX);
    llmux_status st = convert_messages(t, req, err);
    if (st != LLMUX_OK) goto fail;

    /* A named tool is offered alone, and must be called. */
    bool required = req->tool_choice == LLMUX_TOOL_CHOICE_REQUIRED || req->tool_choice == LLMUX_TOOL_CHOICE_TOOL;
    lx_ct_tool *tools = calloc(req->n_tools, sizeof *tools);
    if (!tools) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory preparing the tools");
        goto fail;
    }
    size_t n_tools = 0;
    for (size_t i = 0; i < req->n_tools; i++) {
        const llmux_tool *tl = &req->tools[i];
        if (req->tool_choice == LLMUX_TOOL_CHOICE_TOOL && strcmp(tl->name, req->tool_choice_name) != 0) continue;
        tools[n_tools++] = (lx_ct_tool){tl->name, tl->description, tl->parameters};
    }
    char *why = NULL;
    lx_jg_status js = lx_chat_tools_init(m->model, NULL, t->msgs, t->n_msgs, tools, n_tools, required,
                                         req->single_tool_call, &t->ct, &why);
    free(tools);
    if (js != LX_JG_OK) {
        st = js == LX_JG_NO_MEMORY ? lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory preparing the tools")
                                   : lx_error(err, LLMUX_E_INVALID_REQUEST, "tools: model %s: %s", m->name, why);
        free(why);
        goto fail;
    }
    if (!collect_stops(t, req) || !collect_preserved(t)) {
        st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory preparing the tools");
        goto fail;
    }
    *out = t;
    return LLMUX_OK;
fail:
    lx_tools_free(t);
    return st;
}

void lx_tools_free(lx_tools *t) {
    if (!t) return;
    lx_chat_tools_free(t->ct);
    for (size_t i = 0; i < t->n_msgs; i++) free(t->contents[i]);
    free(t->contents);
    free(t->msgs);
    free(t->calls);
    free(t->stops);
    free(t->preserved);
    lx_buf_free(&t->held);
    lx_buf_free(&t->sent_reasoning);
    lx_buf_free(&t->sent_content);
    for (size_t i = 0; i < t->n_sent; i++) {
        free(t->sent[i].name);
        lx_buf_free(&t->sent[i].args);
    }
    free(t->sent);
    free(t);
}

/* ------------------------------------------------------------ prompt */

/* lx_prompt_render over the Jinja template: the messages of t with chat's contents. */
static lx_render_rc render(void *ud, const struct llama_chat_message *chat, size_t n, size_t max_bytes, char **out,
                           size_t *len, llmux_error_info *err) {
    lx_tools *t = ud;
    const char **contents = malloc((n ? n : 1) * sizeof *contents);
    if (!contents) return LX_RENDER_OOM;
    for (size_t i = 0; i < n; i++) contents[i] = chat[i].content;
    char *why = NULL;
    lx_jg_status js = lx_chat_tools_render(t->ct, contents, out, len, &why);
    free(contents);
    if (js == LX_JG_NO_MEMORY) return LX_RENDER_OOM;
    if (js != LX_JG_OK) {
        lx_error(err, LLMUX_E_INVALID_REQUEST, "tools: model %s: %s", t->m->name, why);
        free(why);
        return LX_RENDER_FAILED;
    }
    if (*len >= max_bytes) {
        free(*out);
        *out = NULL;
        return LX_RENDER_TOO_BIG;
    }
    return LX_RENDER_OK;
}

llmux_status lx_tools_build_prompt(lx_tools *t, size_t max_bytes, lx_prompt *p, llmux_error_info *err) {
    struct llama_chat_message *chat = calloc(t->n_msgs ? t->n_msgs : 1, sizeof *chat);
    if (!chat) {
        memset(p, 0, sizeof *p);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "out of memory rendering the prompt");
    }
    for (size_t i = 0; i < t->n_msgs; i++) chat[i] = (struct llama_chat_message){t->msgs[i].role, t->msgs[i].content};
    llmux_status st = lx_prompt_build_with(render, t, chat, t->n_msgs, max_bytes, p, err);
    free(chat);
    return st;
}

/* ------------------------------------------------------------ generation */

llmux_status lx_tools_grammar(lx_tools *t, struct llama_sampler **out, llmux_error_info *err) {
    char *why = NULL;
    *out = lx_chat_tools_grammar(t->ct, t->m->vocab, &why);
    if (*out || !why) return LLMUX_OK;
    llmux_status st = lx_error(err, LLMUX_E_INVALID_REQUEST, "tools: model %s: %s", t->m->name, why);
    free(why);
    return st;
}

const char *const *lx_tools_stops(const lx_tools *t, size_t *n) {
    *n = t->n_stops;
    return t->stops;
}

int32_t lx_tools_token_piece(const lx_tools *t, int32_t token, char *buf, size_t buf_size, char **heap,
                             size_t *heap_cap, const char **out) {
    bool keep = false;
    for (size_t i = 0; i < t->n_preserved && !keep; i++) keep = t->preserved[i] == token;
    if (!keep) return lx_model_token_piece(t->m, token, buf, buf_size, heap, heap_cap, out);
    *out = NULL;
    int32_t k = llama_token_to_piece(t->m->vocab, token, buf, (int32_t)buf_size, 0, true);
    if (k >= 0) {
        *out = buf;
        return k;
    }
    size_t need = (size_t)-(int64_t)k;
    if (need > *heap_cap) {
        char *h = realloc(*heap, need);
        if (!h) return -1;
        *heap = h;
        *heap_cap = need;
    }
    k = llama_token_to_piece(t->m->vocab, token, *heap, (int32_t)*heap_cap, 0, true);
    if (k < 0) return -1;
    *out = *heap;
    return k;
}

bool lx_tools_hold(lx_tools *t, const char *text, size_t len) {
    if (!t->overflow && !lx_buf_append(&t->held, text, len)) t->overflow = true;
    return !t->overflow;
}

/* ------------------------------------------------------------ streaming */

/* Whether s (NUL-terminated) begins with what b holds. */
static bool extends(const lx_buf *b, const char *s) {
    return b->len == 0 || (strlen(s) >= b->len && memcmp(b->data, s, b->len) == 0);
}

static void emit_text(lx_emitter *em, const char *s, size_t len) {
    if (len) lx_emit_text(em, s, len, NULL);
}

/* Emits what o adds to what was streamed: reasoning and content past what was sent, each call
 * started once its name is complete (its arguments begun, a later call begun, or the output
 * complete: final) and its arguments past what was sent. False, with nothing emitted, when o
 * does not extend what was sent (a name or text that changed, a call gone) or out of memory. */
static bool sync_to(lx_tools *t, lx_emitter *em, const lx_ct_output *o, bool final) {
    if (!extends(&t->sent_reasoning, o->reasoning) || !extends(&t->sent_content, o->content) || o->n_calls < t->n_sent)
        return false;
    for (size_t i = 0; i < t->n_sent; i++)
        if (strcmp(t->sent[i].name, o->calls[i].name) != 0 || !extends(&t->sent[i].args, o->calls[i].arguments))
            return false;
    size_t r0 = t->sent_reasoning.len, c0 = t->sent_content.len;
    if (!lx_buf_append(&t->sent_reasoning, o->reasoning + r0, strlen(o->reasoning) - r0) ||
        !lx_buf_append(&t->sent_content, o->content + c0, strlen(o->content) - c0)) {
        t->sent_reasoning.len = r0;
        t->sent_content.len = c0;
        return false;
    }
    if (t->sent_reasoning.len > r0) lx_emit_reasoning(em, o->reasoning + r0, t->sent_reasoning.len - r0, NULL, false, NULL);
    emit_text(em, o->content + c0, t->sent_content.len - c0);
    for (size_t i = 0; i < o->n_calls; i++) {
        const lx_ct_parsed_call *c = &o->calls[i];
        if (i == t->n_sent) {
            bool ready = final || i + 1 < o->n_calls || c->arguments[0];
            if (!ready || !c->name[0] || t->n_sent == LX_TOOLS_STREAM_CALLS) break;
            if (t->n_sent == t->sent_cap) {
                size_t cap = t->sent_cap ? t->sent_cap * 2 : 4;
                if (cap > LX_TOOLS_STREAM_CALLS) cap = LX_TOOLS_STREAM_CALLS;
                sent_call *grown = realloc(t->sent, cap * sizeof *grown);
                if (!grown) return false;
                t->sent = grown;
                t->sent_cap = cap;
            }
            sent_call *sc = &t->sent[t->n_sent];
            if (!(sc->name = strdup(c->name))) return false;
            lx_buf_init(&sc->args, HELD_MAX);
            if (c->id[0]) snprintf(sc->id, sizeof sc->id, "%s", c->id);
            else lx_make_id(sc->id, sizeof sc->id, "call_"); /* the model gave none */
            t->n_sent++;
            lx_emit_tool_start(em, (int64_t)i, sc->id, sc->name, NULL);
        }
        sent_call *sc = &t->sent[i];
        size_t a0 = sc->args.len, n = strlen(c->arguments);
        if (n > a0) {
            if (!lx_buf_append(&sc->args, c->arguments + a0, n - a0)) return false;
            lx_emit_tool_delta(em, (int64_t)i, c->arguments + a0, n - a0, NULL);
        }
    }
    return true;
}

void lx_tools_stream(lx_tools *t, lx_emitter *em) {
    if (t->diverged || t->overflow) return;
    lx_ct_output o;
    char *why = NULL;
    lx_jg_status js = lx_chat_tools_parse(t->ct, t->held.data ? t->held.data : "", t->held.len, true, &o, &why);
    free(why);
    if (js != LX_JG_OK) return; /* not parseable yet (or no memory): more text may make it so */
    if (!sync_to(t, em, &o, false)) t->diverged = true;
    lx_ct_output_free(&o);
}

/* Ends every streamed call (in order). */
static void end_calls(lx_tools *t, lx_emitter *em) {
    for (size_t i = 0; i < t->n_sent; i++) lx_emit_tool_end(em, (int64_t)i, NULL);
}

/* The output could not be reported as parsed: what was not streamed goes out as text, when the
 * streamed part is plain text the output begins with (else what was streamed stands alone). */
static void emit_rest_as_text(lx_tools *t, lx_emitter *em) {
    const char *text = t->held.data ? t->held.data : "";
    size_t c = t->sent_content.len;
    if (t->n_sent == 0 && t->sent_reasoning.len == 0 && c <= t->held.len &&
        (c == 0 || memcmp(text, t->sent_content.data, c) == 0))
        emit_text(em, text + c, t->held.len - c);
}

llmux_finish_reason lx_tools_finish(lx_tools *t, lx_emitter *em, llmux_finish_reason reason, const char **warning) {
    if (reason == LLMUX_FINISH_STOP) {
        lx_ct_output o;
        char *why = NULL;
        /* After a divergence (a partial parse that did not extend what was sent: some templates'
         * partial parses are not monotonic) the whole output is still parsed: when it extends what
         * was streamed, its calls are reported as calls. */
        lx_jg_status js = t->overflow ? LX_JG_INVALID
                                      : lx_chat_tools_parse(t->ct, t->held.data ? t->held.data : "", t->held.len, false, &o, &why);
        free(why);
        if (js == LX_JG_OK) {
            bool ok = sync_to(t, em, &o, true);
            size_t n_calls = o.n_calls;
            lx_ct_output_free(&o);
            if (ok && n_calls == t->n_sent) {
                end_calls(t, em);
                return t->n_sent ? LLMUX_FINISH_TOOL_CALLS : reason;
            }
        }
        *warning = "the local model's output did not follow its chat template's tool-call format; it is returned as text";
    }
    /* Cut short (length), or not in the template's format: no complete call to report. */
    emit_rest_as_text(t, em);
    end_calls(t, em);
    return reason;
}
