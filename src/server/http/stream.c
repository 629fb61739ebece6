/* Canonical events → the client's SSE stream.
 *
 * OpenAI (platform.openai.com/docs/api-reference/chat-streaming): `data: <chat.completion.chunk>`
 * lines — a role chunk, content deltas, tool_calls deltas keyed by `index` with id, type and name
 * only in a call's first fragment, a chunk with the finish_reason and an empty delta, a usage
 * chunk with empty choices when stream_options.include_usage (then every chunk carries
 * "usage": null), and `data: [DONE]`.
 *
 * Anthropic (docs.anthropic.com/en/docs/build-with-claude/streaming): message_start, then per
 * content block content_block_start / content_block_delta... / content_block_stop, then
 * message_delta (stop_reason, usage) and message_stop; `ping` keep-alives; `error` events.
 *
 * A failure after the stream began becomes an in-stream error event in the client's format and
 * ends the stream (nothing follows it). */
#define _DEFAULT_SOURCE /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http/translate.h"

/* Event strings (ids, names, signatures) as JSON, repaired when not UTF-8 (lx_srv_json_text). */
static json_t *jstr(const char *v) { return lx_srv_json_text(v ? v : "", v ? strlen(v) : 0); }

/* A stream may interleave at most this many tool calls (a cap on the index map). */
#define MAX_STREAM_TOOLS 4096

typedef enum { BLOCK_NONE, BLOCK_TEXT, BLOCK_TOOL, BLOCK_THINKING, BLOCK_REDACTED, BLOCK_NATIVE } block_kind;

typedef struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
} sbuf;

/* Responses: one output item (a message, a function call, a reasoning item) and what it holds so
 * far, for its .done events and the final response object. */
typedef struct ritem {
    uint32_t canon;   /* its canonical part index */
    block_kind kind;  /* BLOCK_TEXT, BLOCK_TOOL, BLOCK_THINKING or BLOCK_NATIVE */
    char id[96];
    char *call_id, *name, *sig;
    sbuf acc;         /* the text, the arguments, the reasoning summary or a native item's JSON */
    bool done;
    bool custom;      /* BLOCK_TOOL: a custom tool's call (a custom_tool_call item) */
    char *input;      /* custom, once ended: its raw input (lx_srv_custom_input of acc) */
} ritem;

struct lx_srv_stream {
    lx_srv_format f;
    char *id, *model;
    long created;
    bool include_usage;
    bool began, ended, tool_seen;
    llmux_usage usage;
    /* OpenAI: canonical part index of each tool call, in order; the position is the client's
     * tool_calls[].index. */
    uint32_t *tools;
    size_t n_tools;
    /* OpenAI: the bytes every chat.completion.chunk starts with, up to its choices (chunk_head). */
    char *head;
    /* Anthropic: the open content block. */
    block_kind open;
    uint32_t open_canon; /* its canonical part index */
    long n_blocks;       /* blocks started so far: the next block's index */
    /* Responses: the output items in order (their position is the output_index), the open
     * message or reasoning item (-1: none), the next event's sequence_number. */
    ritem *items;
    size_t n_items, cap_items;
    long open_item;
    long seq;
    char *prev_id;       /* previous_response_id, echoed in every response object */
    lx_srv_names custom; /* the request's custom tools (lx_srv_stream_custom_tools) */
    bool store;          /* echoed; also: keep the final response object's text (final) */
    char *final;
};

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void puts_(sbuf *b, const char *s) { put(b, s, strlen(s)); }

/* `event: name` (Anthropic only) and `data: <json>`, then the blank line; takes o. */
static void frame(sbuf *b, const char *event, json_t *o) {
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (!s) {
        b->oom = true;
        return;
    }
    if (event) {
        puts_(b, "event: ");
        puts_(b, event);
        puts_(b, "\n");
    }
    puts_(b, "data: ");
    puts_(b, s);
    puts_(b, "\n\n");
    free(s);
}

lx_srv_stream *lx_srv_stream_create(lx_srv_format f, const char *id, const char *model, long created,
                                    bool include_usage) {
    lx_srv_stream *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->f = f;
    s->created = created;
    s->include_usage = include_usage;
    s->usage = llmux_usage_default();
    s->open_item = -1;
    s->id = strdup(id);
    s->model = strdup(model);
    if (!s->id || !s->model) {
        lx_srv_stream_free(s);
        return NULL;
    }
    return s;
}

void lx_srv_stream_free(lx_srv_stream *s) {
    if (!s) return;
    lx_srv_names_free(&s->custom);
    free(s->prev_id);
    free(s->final);
    free(s->id);
    free(s->model);
    free(s->tools);
    free(s->head);
    for (size_t i = 0; i < s->n_items; i++) {
        free(s->items[i].call_id);
        free(s->items[i].name);
        free(s->items[i].sig);
        free(s->items[i].acc.p);
        free(s->items[i].input);
    }
    free(s->items);
    free(s);
}

bool lx_srv_stream_ended(const lx_srv_stream *s) { return s->ended; }

/* ------------------------------------------------------------------ OpenAI */

static void chunk(lx_srv_stream *s, sbuf *b, json_t *delta, const char *finish) {
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:[{s:i,s:o,s:n,s:o}]}", "id", s->id, "object", "chat.completion.chunk",
                          "created", (json_int_t)s->created, "model", s->model, "choices", "index", 0, "delta", delta,
                          "logprobs", "finish_reason", finish ? json_string(finish) : json_null());
    if (o && s->include_usage) json_object_set_new(o, "usage", json_null());
    frame(b, NULL, o);
}

/* Jansson's compact encoding of a string (the same bytes it writes inside an object); NULL when
 * out of memory. Takes v. */
static char *dump_string(json_t *v) {
    char *e = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    return e;
}

/* The plain chunks of an OpenAI stream — the role chunk, content deltas, the finish chunk and the
 * usage chunk, all but a handful of a stream's events — are written as bytes: a head made once
 * per stream (`data: {"id":…,"object":"chat.completion.chunk","created":…,"model":…,"choices":[`),
 * the choice, and a fixed tail. They are the bytes chunk() writes through a jansson object
 * (asserted against it in tests/server/test_translate.c): bench/gateway measured ~28% of a
 * stream's CPU in building and dumping these objects, and the role, finish and usage chunks
 * were still ~5% after content deltas moved to bytes. False when out of memory. */
static bool chunk_head(lx_srv_stream *s, sbuf *b) {
    if (!s->head) {
        char *id = dump_string(jstr(s->id)), *model = dump_string(jstr(s->model));
        sbuf h = {0};
        if (id && model) {
            char created[32];
            snprintf(created, sizeof created, "%ld", s->created);
            puts_(&h, "data: {\"id\":");
            puts_(&h, id);
            puts_(&h, ",\"object\":\"chat.completion.chunk\",\"created\":");
            puts_(&h, created);
            puts_(&h, ",\"model\":");
            puts_(&h, model);
            puts_(&h, ",\"choices\":[");
        }
        free(id);
        free(model);
        /* Sized to fit: an idle stream holds it. */
        char *head = !id || !model || h.oom ? NULL : realloc(h.p, h.n + 1);
        if (!head) {
            free(h.p);
            b->oom = true;
            return false;
        }
        s->head = head;
    }
    puts_(b, s->head);
    return true;
}

/* After the choice: the end of choices, "usage": null with include_usage, the frame's end. */
static void chunk_tail(const lx_srv_stream *s, sbuf *b) {
    puts_(b, s->include_usage ? "],\"usage\":null}\n\n" : "]}\n\n");
}

static void role_chunk(lx_srv_stream *s, sbuf *b) {
    if (!chunk_head(s, b)) return;
    puts_(b, "{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,\"finish_reason\":null}");
    chunk_tail(s, b);
}

/* A content delta: the encoded text between the head and a fixed tail. */
static void text_chunk(lx_srv_stream *s, sbuf *b, const char *text, size_t len) {
    char *e = dump_string(lx_srv_json_text(text, len));
    if (!e) {
        b->oom = true;
        return;
    }
    if (chunk_head(s, b)) {
        puts_(b, "{\"index\":0,\"delta\":{\"content\":");
        puts_(b, e);
        puts_(b, "},\"logprobs\":null,\"finish_reason\":null}");
        chunk_tail(s, b);
    }
    free(e);
}

/* The finish chunk: an empty delta and the reason (one of lx_srv_openai_finish's constants,
 * plain ASCII: written as is). */
static void finish_chunk(lx_srv_stream *s, sbuf *b, const char *finish) {
    if (!chunk_head(s, b)) return;
    puts_(b, "{\"index\":0,\"delta\":{},\"logprobs\":null,\"finish_reason\":\"");
    puts_(b, finish);
    puts_(b, "\"}");
    chunk_tail(s, b);
}

/* stream_options.include_usage's last chunk: no choices, the usage object. */
static void usage_chunk(lx_srv_stream *s, sbuf *b) {
    if (!chunk_head(s, b)) return;
    char u[LX_SRV_USAGE_TEXT_MAX];
    lx_srv_openai_usage_text(&s->usage, u);
    puts_(b, "],\"usage\":");
    puts_(b, u);
    puts_(b, "}\n\n");
}

static long tool_ordinal(const lx_srv_stream *s, uint32_t canon) {
    for (size_t i = s->n_tools; i-- > 0;)
        if (s->tools[i] == canon) return (long)i;
    return -1;
}

static void openai_error(lx_srv_stream *s, sbuf *b, llmux_status st, const char *msg) {
    frame(b, NULL, lx_srv_error_json(LX_SRV_OPENAI, st, msg));
    s->ended = true;
}

static void openai_event(lx_srv_stream *s, const llmux_event *ev, sbuf *b) {
    if (!s->began && ev->type != LLMUX_EVENT_START && ev->type != LLMUX_EVENT_USAGE && ev->type != LLMUX_EVENT_ERROR) {
        s->began = true;
        role_chunk(s, b);
    }
    switch (ev->type) {
    case LLMUX_EVENT_TEXT_DELTA:
        if (ev->text_len) text_chunk(s, b, ev->text, ev->text_len);
        break;
    case LLMUX_EVENT_REASONING_DELTA:
        if (ev->text_len && !ev->redacted)
            chunk(s, b, json_pack("{s:o}", "reasoning_content", lx_srv_json_text(ev->text, ev->text_len)), NULL);
        break;
    case LLMUX_EVENT_TOOL_CALL_START: {
        if (s->n_tools == MAX_STREAM_TOOLS) {
            openai_error(s, b, LLMUX_E_UPSTREAM_PROTOCOL, "too many tool calls in one answer");
            break;
        }
        uint32_t *t = realloc(s->tools, (s->n_tools + 1) * sizeof *t);
        if (!t) {
            b->oom = true;
            break;
        }
        s->tools = t;
        t[s->n_tools] = ev->index;
        s->tool_seen = true;
        chunk(s, b,
              json_pack("{s:[{s:I,s:o,s:s,s:{s:o,s:s}}]}", "tool_calls", "index", (json_int_t)s->n_tools++, "id",
                        jstr(ev->id), "type", "function", "function", "name", jstr(ev->name), "arguments", ""),
              NULL);
        break;
    }
    case LLMUX_EVENT_TOOL_CALL_DELTA: {
        long k = tool_ordinal(s, ev->index);
        if (k >= 0 && ev->text_len)
            chunk(s, b,
                  json_pack("{s:[{s:I,s:{s:o}}]}", "tool_calls", "index", (json_int_t)k, "function", "arguments",
                            lx_srv_json_text(ev->text, ev->text_len)),
                  NULL);
        break;
    }
    case LLMUX_EVENT_USAGE: llmux_usage_merge(&s->usage, &ev->usage); break; /* the prompt's may come first */
    case LLMUX_EVENT_FINISH:
        if (ev->finish_reason == LLMUX_FINISH_CANCELLED || ev->finish_reason == LLMUX_FINISH_ERROR) {
            openai_error(s, b, LLMUX_E_CANCELLED, "the request was cancelled before it finished");
            break;
        }
        finish_chunk(s, b, lx_srv_openai_finish(ev->finish_reason, s->tool_seen));
        if (s->include_usage) usage_chunk(s, b);
        puts_(b, "data: [DONE]\n\n");
        s->ended = true;
        break;
    case LLMUX_EVENT_ERROR:
        openai_error(s, b, ev->error ? ev->error->status : LLMUX_E_INTERNAL, ev->error ? ev->error->message : NULL);
        break;
    default: break;
    }
}

/* ------------------------------------------------- OpenAI text completions */

/* One `text_completion` chunk (the legacy completions stream: the same object as the final
 * answer, with a text fragment and finish_reason null until the last one). */
static void completion_chunk(lx_srv_stream *s, sbuf *b, const char *text, size_t len, const char *finish) {
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:[{s:o,s:i,s:n,s:o}]}", "id", s->id, "object", "text_completion", "created",
                          (json_int_t)s->created, "model", s->model, "choices", "text", lx_srv_json_text(text, len),
                          "index", 0, "logprobs", "finish_reason", finish ? json_string(finish) : json_null());
    if (o && s->include_usage) json_object_set_new(o, "usage", json_null());
    frame(b, NULL, o);
}

static void text_event(lx_srv_stream *s, const llmux_event *ev, sbuf *b) {
    switch (ev->type) {
    case LLMUX_EVENT_TEXT_DELTA:
        s->began = true;
        if (ev->text_len) completion_chunk(s, b, ev->text, ev->text_len, NULL);
        break;
    case LLMUX_EVENT_USAGE: llmux_usage_merge(&s->usage, &ev->usage); break; /* the prompt's may come first */
    case LLMUX_EVENT_FINISH:
        if (ev->finish_reason == LLMUX_FINISH_CANCELLED || ev->finish_reason == LLMUX_FINISH_ERROR) {
            openai_error(s, b, LLMUX_E_CANCELLED, "the request was cancelled before it finished");
            break;
        }
        completion_chunk(s, b, "", 0, lx_srv_openai_finish(ev->finish_reason, false));
        if (s->include_usage)
            frame(b, NULL,
                  json_pack("{s:s,s:s,s:I,s:s,s:[],s:o}", "id", s->id, "object", "text_completion", "created",
                            (json_int_t)s->created, "model", s->model, "choices", "usage", lx_srv_openai_usage(&s->usage)));
        puts_(b, "data: [DONE]\n\n");
        s->ended = true;
        break;
    case LLMUX_EVENT_ERROR:
        openai_error(s, b, ev->error ? ev->error->status : LLMUX_E_INTERNAL, ev->error ? ev->error->message : NULL);
        break;
    default: break; /* reasoning and tool calls have no place in a text completion */
    }
}

/* --------------------------------------------------------------- Anthropic */

static void close_block(lx_srv_stream *s, sbuf *b) {
    if (s->open == BLOCK_NONE) return;
    frame(b, "content_block_stop", json_pack("{s:s,s:I}", "type", "content_block_stop", "index", (json_int_t)(s->n_blocks - 1)));
    s->open = BLOCK_NONE;
}

/* Makes the block of (canonical index, kind) the open one; starts it with `start` (taken). */
static void open_block(lx_srv_stream *s, sbuf *b, uint32_t canon, block_kind kind, json_t *start) {
    if (s->open == kind && s->open_canon == canon) {
        json_decref(start);
        return;
    }
    close_block(s, b);
    frame(b, "content_block_start",
          json_pack("{s:s,s:I,s:o}", "type", "content_block_start", "index", (json_int_t)s->n_blocks, "content_block", start));
    s->n_blocks++;
    s->open = kind;
    s->open_canon = canon;
}

static void delta(lx_srv_stream *s, sbuf *b, json_t *d) {
    frame(b, "content_block_delta",
          json_pack("{s:s,s:I,s:o}", "type", "content_block_delta", "index", (json_int_t)(s->n_blocks - 1), "delta", d));
}

static void anthropic_error(lx_srv_stream *s, sbuf *b, llmux_status st, const char *msg) {
    frame(b, "error", lx_srv_error_json(LX_SRV_ANTHROPIC, st, msg));
    s->ended = true;
}

static void anthropic_event(lx_srv_stream *s, const llmux_event *ev, sbuf *b) {
    if (!s->began && ev->type != LLMUX_EVENT_START && ev->type != LLMUX_EVENT_USAGE && ev->type != LLMUX_EVENT_ERROR) {
        s->began = true;
        /* The prompt's usage when the backend counted it before its first token (an Anthropic
         * upstream's message_start, the local engine), as Anthropic's own message_start has it. */
        frame(b, "message_start",
              json_pack("{s:s,s:{s:s,s:s,s:s,s:s,s:[],s:n,s:n,s:o}}", "type", "message_start", "message", "id", s->id,
                        "type", "message", "role", "assistant", "model", s->model, "content", "stop_reason",
                        "stop_sequence", "usage", lx_srv_anthropic_usage(&s->usage)));
    }
    switch (ev->type) {
    case LLMUX_EVENT_TEXT_DELTA:
        open_block(s, b, ev->index, BLOCK_TEXT, json_pack("{s:s,s:s}", "type", "text", "text", ""));
        if (ev->text_len) delta(s, b, json_pack("{s:s,s:o}", "type", "text_delta", "text", lx_srv_json_text(ev->text, ev->text_len)));
        break;
    case LLMUX_EVENT_REASONING_DELTA:
        if (ev->redacted) {
            /* Redacted thinking arrives whole in its start block; it has no deltas. */
            open_block(s, b, ev->index, BLOCK_REDACTED,
                       json_pack("{s:s,s:o}", "type", "redacted_thinking", "data", lx_srv_json_text(ev->text, ev->text_len)));
            break;
        }
        open_block(s, b, ev->index, BLOCK_THINKING, json_pack("{s:s,s:s,s:s}", "type", "thinking", "thinking", "", "signature", ""));
        if (ev->text_len) delta(s, b, json_pack("{s:s,s:o}", "type", "thinking_delta", "thinking", lx_srv_json_text(ev->text, ev->text_len)));
        if (ev->signature && *ev->signature)
            delta(s, b, json_pack("{s:s,s:o}", "type", "signature_delta", "signature", jstr(ev->signature)));
        break;
    case LLMUX_EVENT_TOOL_CALL_START:
        s->tool_seen = true;
        open_block(s, b, ev->index, BLOCK_TOOL,
                   json_pack("{s:s,s:o,s:o,s:{}}", "type", "tool_use", "id", jstr(ev->id), "name", jstr(ev->name), "input"));
        break;
    case LLMUX_EVENT_TOOL_CALL_DELTA:
        if (s->open == BLOCK_TOOL && s->open_canon == ev->index && ev->text_len)
            delta(s, b, json_pack("{s:s,s:o}", "type", "input_json_delta", "partial_json", lx_srv_json_text(ev->text, ev->text_len)));
        break;
    case LLMUX_EVENT_TOOL_CALL_END:
        if (s->open == BLOCK_TOOL && s->open_canon == ev->index) close_block(s, b);
        break;
    case LLMUX_EVENT_NATIVE: {
        /* An Anthropic backend's own block (a server tool's call or result) arrives whole: its
         * start holds all of it (a server_tool_use's input too, where Anthropic streams it as
         * input_json_delta; the SDKs keep a start's input when no delta follows). */
        json_t *blk = lx_srv_native_block(ev->name, ev->text, ev->text_len);
        if (!blk) break;
        open_block(s, b, ev->index, BLOCK_NATIVE, blk);
        close_block(s, b);
        break;
    }
    case LLMUX_EVENT_USAGE: llmux_usage_merge(&s->usage, &ev->usage); break; /* the prompt's may come first */
    case LLMUX_EVENT_FINISH:
        if (ev->finish_reason == LLMUX_FINISH_CANCELLED || ev->finish_reason == LLMUX_FINISH_ERROR) {
            anthropic_error(s, b, LLMUX_E_CANCELLED, "the request was cancelled before it finished");
            break;
        }
        close_block(s, b);
        bool by_stop = ev->text && ev->text_len && ev->finish_reason == LLMUX_FINISH_STOP && !s->tool_seen;
        frame(b, "message_delta",
              json_pack("{s:s,s:{s:s,s:o},s:o}", "type", "message_delta", "delta", "stop_reason",
                        by_stop ? "stop_sequence" : lx_srv_anthropic_stop(ev->finish_reason, s->tool_seen),
                        "stop_sequence", by_stop ? lx_srv_json_text(ev->text, ev->text_len) : json_null(), "usage",
                        lx_srv_anthropic_usage(&s->usage)));
        frame(b, "message_stop", json_pack("{s:s}", "type", "message_stop"));
        s->ended = true;
        break;
    case LLMUX_EVENT_ERROR:
        anthropic_error(s, b, ev->error ? ev->error->status : LLMUX_E_INTERNAL, ev->error ? ev->error->message : NULL);
        break;
    default: break;
    }
}

/* -------------------------------------------------------- OpenAI Responses */

/* One event: `event: <type>` and its data with "type" and "sequence_number" added; takes o. */
static void rframe(lx_srv_stream *s, sbuf *b, const char *type, json_t *o) {
    if (o) {
        json_object_set_new(o, "type", json_string(type));
        json_object_set_new(o, "sequence_number", json_integer(s->seq++));
    }
    frame(b, type, o);
}

static const char *acc_text(const ritem *it) { return it->acc.p ? it->acc.p : ""; }

/* The item as a JSON object, in progress or complete. */
static json_t *item_json(const ritem *it) {
    const char *status = it->done ? "completed" : "in_progress";
    const char *t = acc_text(it);
    switch (it->kind) {
    case BLOCK_TEXT:
        return json_pack("{s:s,s:s,s:s,s:s,s:o}", "id", it->id, "type", "message", "status", status, "role", "assistant",
                         "content",
                         it->done ? json_pack("[{s:s,s:o,s:[]}]", "type", "output_text", "text",
                                              lx_srv_json_text(t, it->acc.n), "annotations")
                                  : json_array());
    case BLOCK_TOOL:
        if (it->custom) /* its input once end_tool decoded it */
            return lx_srv_responses_custom_call(it->id, status, it->call_id, it->name, it->input ? it->input : "");
        return json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "id", it->id, "type", "function_call", "status", status, "call_id",
                         jstr(it->call_id), "name", jstr(it->name), "arguments",
                         lx_srv_json_text(it->done && !it->acc.n ? "{}" : t, it->done && !it->acc.n ? 2 : it->acc.n));
    case BLOCK_NATIVE: return lx_srv_responses_native_item("openai_responses", t, it->acc.n);
    default: return lx_srv_responses_reasoning_item(it->id, it->done ? t : NULL, it->done ? it->sig : NULL);
    }
}

static ritem *find_item(lx_srv_stream *s, uint32_t canon, block_kind kind) {
    for (size_t i = 0; i < s->n_items; i++)
        if (s->items[i].canon == canon && s->items[i].kind == kind) return &s->items[i];
    return NULL;
}

/* Ends the open message or reasoning item: its .done events. */
static void close_item(lx_srv_stream *s, sbuf *b) {
    if (s->open_item < 0) return;
    ritem *it = &s->items[s->open_item];
    long oi = s->open_item;
    s->open_item = -1;
    it->done = true;
    json_t *text = lx_srv_json_text(acc_text(it), it->acc.n);
    if (it->kind == BLOCK_TEXT) {
        rframe(s, b, "response.output_text.done",
               json_pack("{s:s,s:I,s:i,s:O}", "item_id", it->id, "output_index", (json_int_t)oi, "content_index", 0, "text", text));
        rframe(s, b, "response.content_part.done",
               json_pack("{s:s,s:I,s:i,s:{s:s,s:O,s:[]}}", "item_id", it->id, "output_index", (json_int_t)oi,
                         "content_index", 0, "part", "type", "output_text", "text", text, "annotations"));
    } else if (it->acc.n) {
        rframe(s, b, "response.reasoning_summary_text.done",
               json_pack("{s:s,s:I,s:i,s:O}", "item_id", it->id, "output_index", (json_int_t)oi, "summary_index", 0, "text", text));
        rframe(s, b, "response.reasoning_summary_part.done",
               json_pack("{s:s,s:I,s:i,s:{s:s,s:O}}", "item_id", it->id, "output_index", (json_int_t)oi, "summary_index",
                         0, "part", "type", "summary_text", "text", text));
    }
    json_decref(text);
    rframe(s, b, "response.output_item.done", json_pack("{s:I,s:o}", "output_index", (json_int_t)oi, "item", item_json(it)));
}

/* Room for one more output item, zeroed; NULL when out of memory (b->oom set). */
static ritem *new_item(lx_srv_stream *s, sbuf *b, uint32_t canon, block_kind kind) {
    if (s->n_items == s->cap_items) {
        size_t cap = s->cap_items ? s->cap_items * 2 : 4;
        if (cap > MAX_STREAM_TOOLS) {
            b->oom = true;
            return NULL;
        }
        ritem *g = realloc(s->items, cap * sizeof *g);
        if (!g) {
            b->oom = true;
            return NULL;
        }
        s->items = g;
        s->cap_items = cap;
    }
    ritem *it = &s->items[s->n_items++];
    memset(it, 0, sizeof *it);
    it->canon = canon;
    it->kind = kind;
    return it;
}

/* A new output item for canonical part `canon`: closes the open message or reasoning item and
 * announces this one (output_item.added). NULL when out of memory. */
static ritem *open_item(lx_srv_stream *s, sbuf *b, uint32_t canon, block_kind kind, const char *call_id, const char *name) {
    bool custom = kind == BLOCK_TOOL && lx_srv_names_has(&s->custom, name);
    close_item(s, b);
    long oi = (long)s->n_items;
    ritem *it = new_item(s, b, canon, kind);
    if (!it) return NULL;
    it->custom = custom;
    snprintf(it->id, sizeof it->id, "%s_%s_%ld", kind == BLOCK_TEXT ? "msg" : custom ? "ctc" : kind == BLOCK_TOOL ? "fc" : "rs",
             strlen(s->id) > 5 ? s->id + 5 : s->id, oi);
    if (call_id && !(it->call_id = strdup(call_id))) b->oom = true;
    if (name && !(it->name = strdup(name))) b->oom = true;
    rframe(s, b, "response.output_item.added", json_pack("{s:I,s:o}", "output_index", (json_int_t)oi, "item", item_json(it)));
    if (kind == BLOCK_TEXT) {
        rframe(s, b, "response.content_part.added",
               json_pack("{s:s,s:I,s:i,s:{s:s,s:s,s:[]}}", "item_id", it->id, "output_index", (json_int_t)oi,
                         "content_index", 0, "part", "type", "output_text", "text", "", "annotations"));
    }
    if (kind != BLOCK_TOOL) s->open_item = oi;
    return it;
}

static void acc_put(sbuf *a, sbuf *b, const char *p, size_t n) {
    put(a, p, n);
    if (a->oom) b->oom = true;
}

/* A response object of this stream (lx_srv_responses_object, with its continuation state). */
static json_t *robj(lx_srv_stream *s, const char *status, json_t *output, const llmux_usage *usage, const char *incomplete) {
    json_t *o = lx_srv_responses_object(s->id, s->model, s->created, status, output, usage, incomplete);
    lx_srv_responses_state(o, s->prev_id, s->store);
    return o;
}

bool lx_srv_stream_custom_tools(lx_srv_stream *s, const char *const *names, size_t n) {
    lx_srv_names_free(&s->custom);
    return lx_srv_names_copy(&s->custom, names, n);
}

bool lx_srv_stream_responses_state(lx_srv_stream *s, const char *previous_response_id, bool store) {
    s->store = store;
    return !previous_response_id || (s->prev_id = strdup(previous_response_id)) != NULL;
}

char *lx_srv_stream_take_final(lx_srv_stream *s) {
    char *f = s->final;
    s->final = NULL;
    return f;
}

static void responses_error(lx_srv_stream *s, sbuf *b, llmux_status st, const char *msg) {
    json_t *e = lx_srv_error_json(LX_SRV_OPENAI, st, msg);
    json_t *inner = json_object_get(e, "error");
    json_t *code = json_object_get(inner, "code");
    if (!code || json_is_null(code)) code = json_object_get(inner, "type");
    const char *cs = json_string_value(code), *ms = json_string_value(json_object_get(inner, "message"));
    rframe(s, b, "error", json_pack("{s:s,s:s,s:n}", "code", cs ? cs : "error", "message", ms ? ms : "", "param"));
    json_t *resp = robj(s, "failed", NULL, &s->usage, NULL);
    if (resp) {
        json_object_set_new(resp, "error", json_pack("{s:s,s:s}", "code", cs ? cs : "error", "message", ms ? ms : ""));
        rframe(s, b, "response.failed", json_pack("{s:o}", "response", resp));
    } else {
        b->oom = true;
    }
    json_decref(e);
    s->ended = true;
}

/* Ends a call's item: its arguments' .done (a custom tool's whole input: .delta and .done), then
 * output_item.done. */
static void end_tool(lx_srv_stream *s, sbuf *b, ritem *it) {
    it->done = true;
    if (it->custom) {
        if (!(it->input = lx_srv_custom_input(acc_text(it), it->acc.n))) {
            b->oom = true;
            return;
        }
        json_t *in = lx_srv_json_text(it->input, strlen(it->input));
        if (*it->input)
            rframe(s, b, "response.custom_tool_call_input.delta",
                   json_pack("{s:s,s:I,s:O}", "item_id", it->id, "output_index", (json_int_t)(it - s->items), "delta", in));
        rframe(s, b, "response.custom_tool_call_input.done",
               json_pack("{s:s,s:I,s:O}", "item_id", it->id, "output_index", (json_int_t)(it - s->items), "input", in));
        json_decref(in);
        rframe(s, b, "response.output_item.done",
               json_pack("{s:I,s:o}", "output_index", (json_int_t)(it - s->items), "item", item_json(it)));
        return;
    }
    rframe(s, b, "response.function_call_arguments.done",
           json_pack("{s:s,s:I,s:o}", "item_id", it->id, "output_index", (json_int_t)(it - s->items), "arguments",
                     lx_srv_json_text(it->acc.n ? acc_text(it) : "{}", it->acc.n ? it->acc.n : 2)));
    rframe(s, b, "response.output_item.done",
           json_pack("{s:I,s:o}", "output_index", (json_int_t)(it - s->items), "item", item_json(it)));
}

/* A Responses backend's own item (a hosted tool's: web_search_call, ...), complete: its
 * output_item.added and .done at once, as it came (another format's is skipped). */
static void native_output_item(lx_srv_stream *s, sbuf *b, const llmux_event *ev) {
    json_t *item = lx_srv_responses_native_item(ev->name, ev->text, ev->text_len);
    if (!item) return;
    close_item(s, b);
    long oi = (long)s->n_items;
    ritem *it = new_item(s, b, ev->index, BLOCK_NATIVE);
    if (!it) {
        json_decref(item);
        return;
    }
    it->done = true;
    acc_put(&it->acc, b, ev->text, ev->text_len);
    rframe(s, b, "response.output_item.added", json_pack("{s:I,s:O}", "output_index", (json_int_t)oi, "item", item));
    rframe(s, b, "response.output_item.done", json_pack("{s:I,s:o}", "output_index", (json_int_t)oi, "item", item));
}

static void responses_event(lx_srv_stream *s, const llmux_event *ev, sbuf *b) {
    if (!s->began && ev->type != LLMUX_EVENT_START && ev->type != LLMUX_EVENT_USAGE && ev->type != LLMUX_EVENT_ERROR) {
        s->began = true;
        rframe(s, b, "response.created",
               json_pack("{s:o}", "response", robj(s, "in_progress", NULL, NULL, NULL)));
        rframe(s, b, "response.in_progress",
               json_pack("{s:o}", "response", robj(s, "in_progress", NULL, NULL, NULL)));
    }
    ritem *it;
    switch (ev->type) {
    case LLMUX_EVENT_TEXT_DELTA:
        it = find_item(s, ev->index, BLOCK_TEXT);
        if (!it || it->done) it = open_item(s, b, ev->index, BLOCK_TEXT, NULL, NULL);
        if (!it || !ev->text_len) break;
        acc_put(&it->acc, b, ev->text, ev->text_len);
        rframe(s, b, "response.output_text.delta",
               json_pack("{s:s,s:I,s:i,s:o}", "item_id", it->id, "output_index", (json_int_t)(it - s->items), "content_index",
                         0, "delta", lx_srv_json_text(ev->text, ev->text_len)));
        break;
    case LLMUX_EVENT_REASONING_DELTA:
        it = find_item(s, ev->index, BLOCK_THINKING);
        if (!it || it->done) it = open_item(s, b, ev->index, BLOCK_THINKING, NULL, NULL);
        if (!it) break;
        if (ev->signature && *ev->signature) { /* fragments of one signature are joined */
            size_t old = it->sig ? strlen(it->sig) : 0, add = strlen(ev->signature);
            char *g = realloc(it->sig, old + add + 1);
            if (!g) {
                b->oom = true;
                break;
            }
            memcpy(g + old, ev->signature, add + 1);
            it->sig = g;
        }
        if (ev->redacted || !ev->text_len) break; /* redacted reasoning travels in the signature only */
        if (!it->acc.n)
            rframe(s, b, "response.reasoning_summary_part.added",
                   json_pack("{s:s,s:I,s:i,s:{s:s,s:s}}", "item_id", it->id, "output_index", (json_int_t)(it - s->items),
                             "summary_index", 0, "part", "type", "summary_text", "text", ""));
        acc_put(&it->acc, b, ev->text, ev->text_len);
        rframe(s, b, "response.reasoning_summary_text.delta",
               json_pack("{s:s,s:I,s:i,s:o}", "item_id", it->id, "output_index", (json_int_t)(it - s->items), "summary_index",
                         0, "delta", lx_srv_json_text(ev->text, ev->text_len)));
        break;
    case LLMUX_EVENT_TOOL_CALL_START:
        s->tool_seen = true;
        open_item(s, b, ev->index, BLOCK_TOOL, ev->id, ev->name);
        break;
    case LLMUX_EVENT_TOOL_CALL_DELTA:
        it = find_item(s, ev->index, BLOCK_TOOL);
        if (!it || it->done || !ev->text_len) break;
        acc_put(&it->acc, b, ev->text, ev->text_len);
        if (it->custom) break; /* its raw input goes out whole at the end (the arguments wrap it in JSON) */
        rframe(s, b, "response.function_call_arguments.delta",
               json_pack("{s:s,s:I,s:o}", "item_id", it->id, "output_index", (json_int_t)(it - s->items), "delta",
                         lx_srv_json_text(ev->text, ev->text_len)));
        break;
    case LLMUX_EVENT_TOOL_CALL_END:
        it = find_item(s, ev->index, BLOCK_TOOL);
        if (it && !it->done) end_tool(s, b, it);
        break;
    case LLMUX_EVENT_NATIVE: native_output_item(s, b, ev); break;
    case LLMUX_EVENT_USAGE: llmux_usage_merge(&s->usage, &ev->usage); break; /* the prompt's may come first */
    case LLMUX_EVENT_FINISH: {
        if (ev->finish_reason == LLMUX_FINISH_CANCELLED || ev->finish_reason == LLMUX_FINISH_ERROR) {
            responses_error(s, b, LLMUX_E_CANCELLED, "the request was cancelled before it finished");
            break;
        }
        close_item(s, b);
        for (size_t i = 0; i < s->n_items; i++) /* a call the backend left open ends with what it had */
            if (s->items[i].kind == BLOCK_TOOL && !s->items[i].done) end_tool(s, b, &s->items[i]);
        json_t *output = json_array();
        for (size_t i = 0; output && i < s->n_items; i++) {
            s->items[i].done = true; /* a call cut short ends with what it had */
            json_array_append_new(output, item_json(&s->items[i]));
        }
        const char *incomplete;
        const char *status = lx_srv_responses_status(ev->finish_reason, &incomplete);
        json_t *resp = robj(s, status, output, &s->usage, incomplete);
        if (resp && s->store) s->final = json_dumps(resp, JSON_COMPACT); /* NULL: nothing kept */
        rframe(s, b, incomplete ? "response.incomplete" : "response.completed", resp ? json_pack("{s:o}", "response", resp) : NULL);
        s->ended = true;
        break;
    }
    case LLMUX_EVENT_ERROR:
        responses_error(s, b, ev->error ? ev->error->status : LLMUX_E_INTERNAL, ev->error ? ev->error->message : NULL);
        break;
    default: break;
    }
}

bool lx_srv_stream_event(lx_srv_stream *s, const llmux_event *ev, char **out) {
    *out = NULL;
    if (s->ended) return true;
    sbuf b = {0};
    if (s->f == LX_SRV_ANTHROPIC) anthropic_event(s, ev, &b);
    else if (s->f == LX_SRV_OPENAI_TEXT) text_event(s, ev, &b);
    else if (s->f == LX_SRV_OPENAI_RESPONSES) responses_event(s, ev, &b);
    else openai_event(s, ev, &b);
    if (b.oom) {
        free(b.p);
        return false;
    }
    *out = b.p;
    return true;
}

char *lx_srv_stream_ping(lx_srv_stream *s) {
    /* An SSE comment line is ignored by every SSE parser (WHATWG "server-sent events" §9.2.6). */
    return strdup(s->f == LX_SRV_ANTHROPIC ? "event: ping\ndata: {\"type\":\"ping\"}\n\n" : ": keep-alive\n\n");
}
