/* Anthropic Messages API responses -> canonical events: the SSE stream (message_start,
 * content_block_start/delta/stop, message_delta, message_stop, ping, error) and the
 * non-streaming message object, which is decoded as if it had been streamed whole. */
#include <stdlib.h>
#include <string.h>

#include "core/emitter.h"
#include "core/error.h"
#include "providers/anthropic_internal.h"
#include "providers/json_util.h"
#include "providers/redact.h"
#include "transport/sse.h"

#define MAX_BLOCKS 4096 /* content blocks per response; more is a protocol error */

/* BLOCK_JSON: the call of LX_ANTHROPIC_JSON_TOOL, whose input is the answer's text. */
typedef enum block_kind {
    BLOCK_NONE = 0,
    BLOCK_TEXT,
    BLOCK_THINKING,
    BLOCK_REDACTED,
    BLOCK_TOOL,
    BLOCK_NATIVE,
    BLOCK_JSON
} block_kind;

typedef struct block {
    uint8_t kind;      /* block_kind */
    bool args_seen;    /* tool_use: a non-empty input fragment was emitted */
    bool stopped;
    /* BLOCK_NATIVE: the block as it started (a server tool's call or result, any type this
     * adapter does not model), passed on whole as a NATIVE part at its stop; a streamed
     * server_tool_use's input arrives as input_json_delta fragments, gathered in `input`. */
    json_t *native;
    lx_buf *input;
} block;

typedef struct adec {
    lx_emitter em;
    lx_sse_parser sse;
    lx_buf body;            /* non-streaming body, buffered until the end */
    bool stream;
    char provider[64];
    block *blocks;          /* by Anthropic block index */
    size_t n_blocks;
    /* usage as Anthropic reports it: -1 = not reported */
    int64_t input, cache_read, cache_write, cache_write_1h, output, web_searches;
    bool real_tool;            /* a tool_use block of the caller's tools (not the JSON answer) */
    llmux_finish_reason finish;
    char *stop_sequence;       /* the stop sequence that ended the message (stop_reason stop_sequence) */
    bool done;              /* message_stop seen: FINISH was emitted */
    llmux_status failed;    /* sticky: every call after a failure returns it */
    llmux_error_info failure;
    char *key;              /* the configured key, masked in every error (lx_secret_dup) */
} adec;

lx_decoder *lx_anthropic_decoder_create(const lx_provider_config *cfg, bool stream, lx_event_sink sink) {
    adec *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    lx_copy_field(d->provider, sizeof d->provider, cfg && cfg->name ? cfg->name : "anthropic");
    lx_emitter_init(&d->em, sink, d->provider);
    lx_sse_parser_init(&d->sse, LX_WIRE_MAX_LINE);
    lx_buf_init(&d->body, LX_WIRE_MAX_BODY);
    d->stream = stream;
    d->key = lx_secret_dup(cfg ? cfg->api_key : NULL);
    d->input = d->cache_read = d->cache_write = d->cache_write_1h = d->output = d->web_searches = -1;
    d->finish = LLMUX_FINISH_NONE;
    return (lx_decoder *)d;
}

void lx_anthropic_decoder_destroy(lx_decoder *dec) {
    adec *d = (adec *)dec;
    if (!d) return;
    lx_emitter_free(&d->em);
    lx_secret_free(d->key);
    lx_sse_parser_free(&d->sse);
    lx_buf_free(&d->body);
    for (size_t i = 0; i < d->n_blocks; i++) {
        json_decref(d->blocks[i].native);
        if (d->blocks[i].input) lx_buf_free(d->blocks[i].input);
        free(d->blocks[i].input);
    }
    free(d->blocks);
    free(d->stop_sequence);
    free(d);
}

static llmux_status protocol(adec *d, llmux_error_info *err, const char *what) {
    return lx_error(err, LLMUX_E_UPSTREAM_PROTOCOL, "%s: %s", d->provider, what);
}

static block *get_block(adec *d, const json_t *ev, bool create, llmux_error_info *err, llmux_status *st) {
    int64_t idx;
    if (!lx_json_i64(ev, "index", &idx) || idx < 0 || idx >= MAX_BLOCKS) {
        *st = protocol(d, err, "content block event without a valid index");
        return NULL;
    }
    if ((size_t)idx >= d->n_blocks) {
        if (!create) {
            *st = protocol(d, err, "delta for a content block that was never started");
            return NULL;
        }
        size_t n = (size_t)idx + 1;
        block *b = realloc(d->blocks, n * sizeof *b);
        if (!b) {
            *st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
            return NULL;
        }
        memset(b + d->n_blocks, 0, (n - d->n_blocks) * sizeof *b);
        d->blocks = b;
        d->n_blocks = n;
    }
    block *b = &d->blocks[idx];
    if (create && b->kind != BLOCK_NONE) {
        *st = protocol(d, err, "content block started twice");
        return NULL;
    }
    if (!create && b->kind == BLOCK_NONE) {
        *st = protocol(d, err, "delta for a content block that was never started");
        return NULL;
    }
    return b;
}

static llmux_status emit_json_text(adec *d, const json_t *input, llmux_error_info *err) {
    lx_buf tmp;
    lx_buf_init(&tmp, LX_WIRE_MAX_LINE);
    if (!lx_json_dump_buf(input, &tmp)) {
        lx_buf_free(&tmp);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
    }
    llmux_status st = lx_emit_text(&d->em, tmp.data, tmp.len, err);
    lx_buf_free(&tmp);
    return st;
}

static llmux_status emit_json_args(adec *d, int64_t key, const json_t *input, llmux_error_info *err) {
    lx_buf tmp;
    lx_buf_init(&tmp, LX_WIRE_MAX_LINE);
    if (!lx_json_dump_buf(input, &tmp)) {
        lx_buf_free(&tmp);
        return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
    }
    llmux_status st = lx_emit_tool_delta(&d->em, key, tmp.data, tmp.len, err);
    lx_buf_free(&tmp);
    return st;
}

/* content_block_start, or one element of a non-streaming message's content array (which holds
 * the whole block). */
static llmux_status block_start(adec *d, int64_t idx, block *b, const json_t *cb, llmux_error_info *err) {
    const char *type = lx_json_str(cb, "type");
    if (!type) return protocol(d, err, "content block without a type");
    /* Each block is its own canonical part, even two text blocks in a row. */
    lx_emitter_break_text(&d->em);
    lx_emitter_break_reasoning(&d->em);
    if (strcmp(type, "text") == 0) {
        b->kind = BLOCK_TEXT;
        json_t *t = json_object_get(cb, "text");
        return json_is_string(t) ? lx_emit_text(&d->em, json_string_value(t), json_string_length(t), err) : LLMUX_OK;
    }
    if (strcmp(type, "thinking") == 0) {
        b->kind = BLOCK_THINKING;
        json_t *t = json_object_get(cb, "thinking");
        const char *sig = lx_json_str(cb, "signature");
        return lx_emit_reasoning(&d->em, json_is_string(t) ? json_string_value(t) : NULL,
                                 json_is_string(t) ? json_string_length(t) : 0, sig, false, err);
    }
    if (strcmp(type, "redacted_thinking") == 0) {
        b->kind = BLOCK_REDACTED;
        json_t *t = json_object_get(cb, "data");
        if (!json_is_string(t)) return protocol(d, err, "redacted_thinking block without data");
        return lx_emit_reasoning(&d->em, json_string_value(t), json_string_length(t), NULL, true, err);
    }
    if (strcmp(type, "tool_use") == 0) {
        b->kind = BLOCK_TOOL;
        const char *id = lx_json_str(cb, "id"), *name = lx_json_str(cb, "name");
        if (!id || !name) return protocol(d, err, "tool_use block without id or name");
        if (strcmp(name, LX_ANTHROPIC_JSON_TOOL) == 0) { /* the JSON answer (anthropic_internal.h) */
            b->kind = BLOCK_JSON;
            json_t *input = json_object_get(cb, "input");
            if (!json_is_object(input) || (d->stream && json_object_size(input) == 0)) return LLMUX_OK;
            b->args_seen = true;
            return emit_json_text(d, input, err);
        }
        d->real_tool = true;
        llmux_status st = lx_emit_tool_start(&d->em, idx, id, name, err);
        json_t *input = json_object_get(cb, "input");
        /* Streams start with input {} and send the arguments as deltas; a whole message carries
         * them here. */
        if (st == LLMUX_OK && json_is_object(input) && (!d->stream || json_object_size(input) > 0)) {
            st = emit_json_args(d, idx, input, err);
            b->args_seen = true;
        }
        return st;
    }
    /* Server tools (server_tool_use, web_search_tool_result, ...) and block types added later
     * have no canonical part of their own: kept as they came and passed on as NATIVE at their
     * stop, so that an Anthropic client gets them (and can send them back). */
    b->kind = BLOCK_NATIVE;
    b->native = json_incref((json_t *)cb);
    return LLMUX_OK;
}

/* A NATIVE block's input fragments (input_json_delta), capped like a stream line. */
static llmux_status native_input(adec *d, block *b, const char *frag, size_t len, llmux_error_info *err) {
    if (!b->input) {
        if (!(b->input = malloc(sizeof *b->input))) return lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
        lx_buf_init(b->input, LX_WIRE_MAX_LINE);
    }
    if (!lx_buf_append(b->input, frag, len)) return protocol(d, err, "a server tool's input is too long");
    return LLMUX_OK;
}

/* The whole NATIVE block: its start, with the streamed input (when any) in place of the {} the
 * start carried. */
static llmux_status native_stop(adec *d, block *b, llmux_error_info *err) {
    if (b->input && b->input->len) {
        json_t *input = json_loadb(b->input->data, b->input->len, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(input)) {
            json_decref(input);
            return protocol(d, err, "a server tool's streamed input is not a JSON object");
        }
        json_object_set_new(b->native, "input", input);
    }
    lx_buf tmp;
    lx_buf_init(&tmp, LX_WIRE_MAX_BODY);
    llmux_status st = lx_json_dump_buf(b->native, &tmp) ? lx_emit_native(&d->em, "anthropic", tmp.data, tmp.len, err)
                                                        : lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
    lx_buf_free(&tmp);
    json_decref(b->native);
    b->native = NULL;
    if (b->input) lx_buf_free(b->input);
    free(b->input);
    b->input = NULL;
    return st;
}

static llmux_status block_stop(adec *d, int64_t idx, block *b, llmux_error_info *err) {
    if (b->stopped) return protocol(d, err, "content block stopped twice");
    b->stopped = true;
    if (b->kind == BLOCK_JSON && !b->args_seen) return lx_emit_text(&d->em, "{}", 2, err); /* an empty answer */
    if (b->kind == BLOCK_NATIVE) return native_stop(d, b, err);
    if (b->kind != BLOCK_TOOL) return LLMUX_OK;
    llmux_status st = LLMUX_OK;
    if (!b->args_seen) st = lx_emit_tool_delta(&d->em, idx, "{}", 2, err); /* a call without arguments */
    return st == LLMUX_OK ? lx_emit_tool_end(&d->em, idx, err) : st;
}

static llmux_status block_delta(adec *d, const json_t *ev, llmux_error_info *err) {
    llmux_status st = LLMUX_OK;
    block *b = get_block(d, ev, false, err, &st);
    if (!b) return st;
    if (b->stopped) return protocol(d, err, "delta after content_block_stop");
    int64_t idx = 0;
    lx_json_i64(ev, "index", &idx);
    json_t *delta = lx_json_obj(ev, "delta");
    const char *type = lx_json_str(delta, "type");
    if (!type) return protocol(d, err, "content_block_delta without a delta type");
    json_t *v;
    if (strcmp(type, "text_delta") == 0 && b->kind == BLOCK_TEXT) {
        v = json_object_get(delta, "text");
        if (!json_is_string(v)) return protocol(d, err, "text_delta without text");
        return lx_emit_text(&d->em, json_string_value(v), json_string_length(v), err);
    }
    if (strcmp(type, "thinking_delta") == 0 && b->kind == BLOCK_THINKING) {
        v = json_object_get(delta, "thinking");
        if (!json_is_string(v)) return protocol(d, err, "thinking_delta without thinking");
        return lx_emit_reasoning(&d->em, json_string_value(v), json_string_length(v), NULL, false, err);
    }
    if (strcmp(type, "signature_delta") == 0 && b->kind == BLOCK_THINKING) {
        const char *sig = lx_json_str(delta, "signature");
        if (!sig) return protocol(d, err, "signature_delta without signature");
        return lx_emit_reasoning(&d->em, NULL, 0, sig, false, err);
    }
    if (strcmp(type, "input_json_delta") == 0 && b->kind == BLOCK_NATIVE) {
        v = json_object_get(delta, "partial_json");
        if (!json_is_string(v)) return protocol(d, err, "input_json_delta without partial_json");
        return native_input(d, b, json_string_value(v), json_string_length(v), err);
    }
    if (strcmp(type, "input_json_delta") == 0 && (b->kind == BLOCK_TOOL || b->kind == BLOCK_JSON)) {
        v = json_object_get(delta, "partial_json");
        if (!json_is_string(v)) return protocol(d, err, "input_json_delta without partial_json");
        if (json_string_length(v) > 0) b->args_seen = true;
        if (b->kind == BLOCK_JSON) /* the JSON answer streams as text */
            return json_string_length(v) ? lx_emit_text(&d->em, json_string_value(v), json_string_length(v), err) : LLMUX_OK;
        return lx_emit_tool_delta(&d->em, idx, json_string_value(v), json_string_length(v), err);
    }
    if (strcmp(type, "text_delta") == 0 || strcmp(type, "thinking_delta") == 0 ||
        strcmp(type, "signature_delta") == 0 || strcmp(type, "input_json_delta") == 0) {
        if (b->kind == BLOCK_NATIVE) return LLMUX_OK; /* a text delta of a block kept whole: its start holds it */
        return protocol(d, err, "content_block_delta of a type that does not match its block");
    }
    return LLMUX_OK; /* citations_delta and later additions */
}

/* message_start carries the first usage; message_delta's usage is cumulative, so a later value
 * replaces an earlier one field by field. */
static void read_usage(adec *d, const json_t *u) {
    int64_t v;
    if (lx_json_i64(u, "input_tokens", &v)) d->input = v;
    if (lx_json_i64(u, "cache_read_input_tokens", &v)) d->cache_read = v;
    if (lx_json_i64(u, "cache_creation_input_tokens", &v)) d->cache_write = v;
    /* The split by lifetime (prompt caching with ttl): the hour-long writes are priced apart. */
    if (lx_json_i64(lx_json_obj(u, "cache_creation"), "ephemeral_1h_input_tokens", &v)) d->cache_write_1h = v;
    if (lx_json_i64(u, "output_tokens", &v)) d->output = v;
    /* Server tools' uses, billed per use (pricing.h). */
    if (lx_json_i64(lx_json_obj(u, "server_tool_use"), "web_search_requests", &v) && v >= 0) d->web_searches = v;
}

/* The stop sequence a message_delta (or a whole message) names, kept for FINISH. */
static void remember_stop(adec *d, const json_t *o) {
    const char *s = lx_json_str(o, "stop_sequence");
    if (!s || !*s || d->stop_sequence || strlen(s) > 4096) return;
    size_t n = strlen(s);
    if ((d->stop_sequence = malloc(n + 1))) memcpy(d->stop_sequence, s, n + 1); /* else FINISH names none */
}

static llmux_finish_reason map_stop(const char *r) {
    if (!r) return LLMUX_FINISH_STOP;
    if (strcmp(r, "max_tokens") == 0 || strcmp(r, "model_context_window_exceeded") == 0) return LLMUX_FINISH_LENGTH;
    if (strcmp(r, "tool_use") == 0) return LLMUX_FINISH_TOOL_CALLS;
    if (strcmp(r, "refusal") == 0) return LLMUX_FINISH_CONTENT_FILTER;
    if (strcmp(r, "pause_turn") == 0) return LLMUX_FINISH_PAUSED;
    return LLMUX_FINISH_STOP; /* end_turn, stop_sequence, later additions */
}

/* The usage read so far as canonical usage. Anthropic's input_tokens excludes the tokens read
 * from and written to the prompt cache; canonical input_tokens includes them. */
static llmux_usage usage_so_far(const adec *d) {
    llmux_usage u = llmux_usage_default();
    if (d->input >= 0)
        u.input_tokens = d->input + (d->cache_read > 0 ? d->cache_read : 0) + (d->cache_write > 0 ? d->cache_write : 0);
    u.output_tokens = d->output;
    u.cached_input_tokens = d->cache_read;
    u.cache_write_tokens = d->cache_write;
    u.cache_write_1h_tokens = d->cache_write_1h;
    u.web_search_requests = d->web_searches;
    if (u.input_tokens >= 0 && u.output_tokens >= 0) u.total_tokens = u.input_tokens + u.output_tokens;
    return u;
}

/* USAGE (when anything was reported) then FINISH. */
static llmux_status finish(adec *d, llmux_error_info *err) {
    /* max_tokens can cut a tool_use block short without its content_block_stop: close it here
     * so that USAGE and FINISH come after every part. */
    for (size_t i = 0; i < d->n_blocks; i++) {
        if (d->blocks[i].kind != BLOCK_TOOL || d->blocks[i].stopped) continue;
        llmux_status st = lx_emit_tool_end(&d->em, (int64_t)i, err);
        if (st != LLMUX_OK) return st;
    }
    if (d->input >= 0 || d->output >= 0) {
        llmux_usage u = usage_so_far(d);
        llmux_status st = lx_emit_usage(&d->em, &u, err);
        if (st != LLMUX_OK) return st;
    }
    d->done = true;
    llmux_finish_reason r = d->finish == LLMUX_FINISH_NONE ? LLMUX_FINISH_STOP : d->finish;
    if (r == LLMUX_FINISH_TOOL_CALLS && !d->real_tool) r = LLMUX_FINISH_STOP; /* the JSON answer's call */
    return lx_emit_finish_stop(&d->em, r, d->stop_sequence, err);
}

static llmux_status message_start(adec *d, const json_t *msg, llmux_error_info *err) {
    if (!json_is_object(msg)) return protocol(d, err, "message_start without a message");
    read_usage(d, lx_json_obj(msg, "usage"));
    llmux_status st = lx_emit_start(&d->em, lx_json_str(msg, "id"), lx_json_str(msg, "model"), err);
    /* A stream's prompt is counted before its first token: passed on at once (a client's own
     * message_start shows it; the final USAGE completes it). Not for a whole message, whose
     * usage comes once at its end. */
    if (st == LLMUX_OK && d->stream && d->input >= 0) {
        llmux_usage u = usage_so_far(d);
        u.output_tokens = -1;
        u.total_tokens = -1;
        st = lx_emit_usage(&d->em, &u, err);
    }
    return st;
}

/* One decoded stream event. */
static llmux_status on_event(adec *d, const json_t *ev, llmux_error_info *err) {
    const char *type = lx_json_str(ev, "type");
    if (!type) return protocol(d, err, "stream event without a type");
    if (strcmp(type, "ping") == 0) return LLMUX_OK;
    if (strcmp(type, "error") == 0) return lx_anthropic_error(lx_json_obj(ev, "error"), 0, -1, d->provider, err);
    if (strcmp(type, "message_start") == 0) return message_start(d, json_object_get(ev, "message"), err);
    if (!d->em.started) return protocol(d, err, "stream does not begin with message_start");
    llmux_status st = LLMUX_OK;
    if (strcmp(type, "content_block_start") == 0) {
        block *b = get_block(d, ev, true, err, &st);
        int64_t idx = 0;
        lx_json_i64(ev, "index", &idx);
        json_t *cb = lx_json_obj(ev, "content_block");
        if (b && !cb) return protocol(d, err, "content_block_start without content_block");
        return b ? block_start(d, idx, b, cb, err) : st;
    }
    if (strcmp(type, "content_block_delta") == 0) return block_delta(d, ev, err);
    if (strcmp(type, "content_block_stop") == 0) {
        block *b = get_block(d, ev, false, err, &st);
        int64_t idx = 0;
        lx_json_i64(ev, "index", &idx);
        return b ? block_stop(d, idx, b, err) : st;
    }
    if (strcmp(type, "message_delta") == 0) {
        json_t *delta = lx_json_obj(ev, "delta");
        const char *r = lx_json_str(delta, "stop_reason");
        if (r) d->finish = map_stop(r);
        remember_stop(d, delta);
        read_usage(d, lx_json_obj(ev, "usage"));
        return LLMUX_OK;
    }
    if (strcmp(type, "message_stop") == 0) return finish(d, err);
    return LLMUX_OK; /* event types added after this adapter was written */
}

static llmux_status on_sse(void *user, const lx_sse_event *sse) {
    adec *d = user;
    llmux_error_info *err = &d->failure;
    if (d->done) return LLMUX_OK; /* nothing after message_stop is part of the response */
    json_t *ev = lx_json_parse_upstream(sse->data, sse->data_len, LX_WIRE_MAX_LINE, "anthropic stream event", err);
    if (!ev) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st = on_event(d, ev, err);
    json_decref(ev);
    return st;
}

static llmux_status fail(adec *d, llmux_status st, llmux_error_info *err) {
    d->failed = st;
    if (err) *err = d->failure;
    return st;
}

static llmux_status sticky(adec *d, llmux_error_info *err) {
    if (err) *err = d->failure;
    return d->failed;
}

static llmux_status feed_inner(lx_decoder *dec, const char *data, size_t len, llmux_error_info *err) {
    adec *d = (adec *)dec;
    if (d->failed != LLMUX_OK) return sticky(d, err);
    if (!d->stream) {
        if (!lx_buf_append(&d->body, data, len))
            return fail(d, lx_error(&d->failure, LLMUX_E_UPSTREAM_PROTOCOL, "%s: response body over %u bytes",
                                    d->provider, LX_WIRE_MAX_BODY),
                        err);
        return LLMUX_OK;
    }
    llmux_status st = lx_sse_feed(&d->sse, data, len, on_sse, d, &d->failure);
    return st == LLMUX_OK ? LLMUX_OK : fail(d, st, err);
}

static llmux_status decode_message(adec *d, llmux_error_info *err) {
    json_t *m = lx_json_parse_upstream(d->body.data, d->body.len, LX_WIRE_MAX_BODY, "anthropic response", err);
    if (!m) return LLMUX_E_UPSTREAM_PROTOCOL;
    llmux_status st = LLMUX_OK;
    const char *type = lx_json_str(m, "type");
    json_t *content = lx_json_arr(m, "content");
    if (lx_json_obj(m, "error")) {
        st = lx_anthropic_error(lx_json_obj(m, "error"), 0, -1, d->provider, err);
    } else if (!type || strcmp(type, "message") != 0 || !content) {
        st = protocol(d, err, "response is not a message object");
    } else {
        st = message_start(d, m, err);
        size_t n = json_array_size(content);
        if (st == LLMUX_OK && n > MAX_BLOCKS) st = protocol(d, err, "too many content blocks");
        if (st == LLMUX_OK && n > 0 && !(d->blocks = calloc(n, sizeof *d->blocks)))
            st = lx_error(err, LLMUX_E_OUT_OF_MEMORY, "%s: out of memory", d->provider);
        d->n_blocks = n;
        for (size_t i = 0; st == LLMUX_OK && i < n; i++) {
            json_t *cb = json_array_get(content, i);
            st = block_start(d, (int64_t)i, &d->blocks[i], cb, err);
            if (st == LLMUX_OK) st = block_stop(d, (int64_t)i, &d->blocks[i], err);
        }
        if (st == LLMUX_OK) {
            d->finish = map_stop(lx_json_str(m, "stop_reason"));
            remember_stop(d, m);
            st = finish(d, err);
        }
    }
    json_decref(m);
    return st;
}

static llmux_status end_inner(lx_decoder *dec, llmux_error_info *err) {
    adec *d = (adec *)dec;
    if (d->failed != LLMUX_OK) return sticky(d, err);
    llmux_status st;
    if (!d->stream) {
        st = decode_message(d, &d->failure);
        return st == LLMUX_OK ? LLMUX_OK : fail(d, st, err);
    }
    /* Recorded streams often lack the blank line after the last event: dispatch it anyway. A
     * cut inside an event then fails as invalid JSON below. */
    st = lx_sse_feed(&d->sse, "\n\n", 2, on_sse, d, &d->failure);
    if (st == LLMUX_OK) st = lx_sse_finish(&d->sse, NULL, &d->failure);
    if (st == LLMUX_OK && !d->done)
        st = lx_error(&d->failure, LLMUX_E_UPSTREAM_PROTOCOL, "%s: the stream ended before message_stop (truncated)",
                      d->provider);
    return st == LLMUX_OK ? LLMUX_OK : fail(d, st, err);
}

/* Upstream text reaches errors here (an echoed key in an error event): mask the key. */
llmux_status lx_anthropic_decoder_feed(lx_decoder *dec, const char *data, size_t len, llmux_error_info *err) {
    adec *d = (adec *)dec;
    return lx_redact_status(feed_inner(dec, data, len, err), err, &d->failure, d->key);
}

llmux_status lx_anthropic_decoder_end(lx_decoder *dec, llmux_error_info *err) {
    adec *d = (adec *)dec;
    return lx_redact_status(end_inner(dec, err), err, &d->failure, d->key);
}

/* Canonical events so far, plus the bytes of a non-streaming body (decoded only at its end). */
struct lx_emitter *lx_anthropic_decoder_emitter(lx_decoder *dec) { return &((adec *)dec)->em; }

uint64_t lx_anthropic_decoder_progress(const lx_decoder *dec) {
    const adec *d = (const adec *)dec;
    return d->em.n_events + d->body.len;
}
